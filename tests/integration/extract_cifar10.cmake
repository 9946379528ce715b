# SPDX-License-Identifier: MIT
# Extracts the CIFAR-10 binary archive into DEST once (skipped when the files are already there),
# and writes DEST-small: the same files cut to their first 1,000 records each (5,000 training and
# 1,000 test images), for the tests whose point is not the accuracy (the resume tests compare a run
# with itself; evaluating 10,000 test images in each of their runs took most of their time).
if(NOT (EXISTS ${DEST}/cifar-10-batches-bin/test_batch.bin AND EXISTS ${DEST}/cifar-10-batches-bin/data_batch_5.bin))
  file(MAKE_DIRECTORY ${DEST})
  execute_process(COMMAND ${CMAKE_COMMAND} -E tar xf ${ARCHIVE} WORKING_DIRECTORY ${DEST} RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "extracting ${ARCHIVE} failed: ${rc}")
  endif()
endif()

set(small ${DEST}-small/cifar-10-batches-bin)
if(NOT EXISTS ${small}/test_batch.bin)
  file(MAKE_DIRECTORY ${small})
  file(COPY ${DEST}/cifar-10-batches-bin/batches.meta.txt DESTINATION ${small})
  math(EXPR bytes "1000 * 3073")  # 1 label byte + 32 x 32 x 3 pixels per record
  foreach(f data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch)
    execute_process(COMMAND head -c ${bytes} ${DEST}/cifar-10-batches-bin/${f}.bin
                    OUTPUT_FILE ${small}/${f}.bin.part RESULT_VARIABLE rc)
    if(rc)
      message(FATAL_ERROR "cutting ${f}.bin to ${bytes} bytes failed: ${rc}")
    endif()
    file(RENAME ${small}/${f}.bin.part ${small}/${f}.bin)
  endforeach()
endif()
