# SPDX-License-Identifier: MIT
# Extracts the CIFAR-10 binary archive into DEST once (skipped when the files are already there).
if(EXISTS ${DEST}/cifar-10-batches-bin/test_batch.bin AND EXISTS ${DEST}/cifar-10-batches-bin/data_batch_5.bin)
  return()
endif()
file(MAKE_DIRECTORY ${DEST})
execute_process(COMMAND ${CMAKE_COMMAND} -E tar xf ${ARCHIVE} WORKING_DIRECTORY ${DEST} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "extracting ${ARCHIVE} failed: ${rc}")
endif()
