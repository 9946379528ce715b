# SPDX-License-Identifier: MIT
# Runs `salun-demo eval` on a checkpoint and compares the number of correct test images with
# the figure PyTorch recorded in the checkpoint's log (stored_weights.test_correct): equal, or
# within a handful (float summation order can flip a near-tie).
set(tolerance 3)
execute_process(COMMAND ${DEMO} eval --arch ${ARCH} --weights ${WEIGHTS} --data ${DATA} --json ${OUT} --quiet
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "salun-demo eval failed (${rc})")
endif()
file(READ ${OUT} ours)
file(READ ${LOG} log)
string(JSON correct GET "${ours}" correct)
string(JSON expected GET "${log}" stored_weights test_correct)
math(EXPR diff "${correct} - ${expected}")
if(diff LESS 0)
  math(EXPR diff "-${diff}")
endif()
message(STATUS "${ARCH}: salun ${correct} correct, PyTorch ${expected} (difference ${diff})")
if(diff GREATER tolerance)
  message(FATAL_ERROR "${ARCH}: ${correct} correct test images, PyTorch reports ${expected}")
endif()
