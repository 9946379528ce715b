# SPDX-License-Identifier: MIT
# Resumable salun-demo train (a tiny run: 10 images per class, 2 epochs of 7 steps): a run killed
# with SIGKILL after its 10th step (epoch 2, mid-epoch) and continued with --resume writes the same
# checkpoint, byte for byte, as an uninterrupted run, and removes its resume file. The kill comes
# from the demo's testing aid SALUN_TEST_KILL_AT_STEP (the process signals itself after step N).
file(REMOVE_RECURSE ${OUT_DIR})
file(MAKE_DIRECTORY ${OUT_DIR})
set(args train --arch resnet18 --data ${DATA} --subset 10 --epochs 2 --batch-size 16 --threads 2 --quiet)

execute_process(COMMAND ${DEMO} ${args} --out ${OUT_DIR}/ref.safetensors RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "the uninterrupted run failed (${rc}):\n${err}")
endif()

set(ENV{SALUN_TEST_KILL_AT_STEP} 10)
execute_process(COMMAND ${DEMO} ${args} --out ${OUT_DIR}/run.safetensors RESULT_VARIABLE rc ERROR_VARIABLE err)
unset(ENV{SALUN_TEST_KILL_AT_STEP})
if(rc EQUAL 0 OR NOT rc MATCHES "[Kk]illed|137")
  message(FATAL_ERROR "expected the run to die of SIGKILL, got '${rc}':\n${err}")
endif()
if(EXISTS ${OUT_DIR}/run.safetensors OR NOT EXISTS ${OUT_DIR}/run.resume.safetensors)
  message(FATAL_ERROR "a killed train run must leave its resume file (after epoch 1) and no checkpoint")
endif()

execute_process(COMMAND ${DEMO} ${args} --out ${OUT_DIR}/run.safetensors --resume RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "the resumed run failed (${rc}):\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT_DIR}/ref.safetensors ${OUT_DIR}/run.safetensors
                RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "the resumed training ends with other weights than the uninterrupted one")
endif()
if(EXISTS ${OUT_DIR}/run.resume.safetensors)
  message(FATAL_ERROR "a finished train run left its resume file behind")
endif()
message(STATUS "train killed at step 10, --resume: the same checkpoint, byte for byte")
