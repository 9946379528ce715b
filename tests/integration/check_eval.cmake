# SPDX-License-Identifier: MIT
# Runs `salun-demo eval` on a checkpoint (WEIGHTS) and checks it against either
#  - LOG: the number of correct test images PyTorch recorded in the checkpoint's log
#    (stored_weights.test_correct): equal, or within a handful (float summation order can flip a
#    near-tie); or
#  - REFERENCE: another file of the same weights (e.g. the .safetensors a .pth was converted
#    from), evaluated here too: the same number of correct images and the same per-class
#    accuracies, exactly.
set(tolerance 3)
function(evaluate weights out json_var)
  execute_process(COMMAND ${DEMO} eval --arch ${ARCH} --weights ${weights} --data ${DATA} --json ${out} --quiet
                  RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "salun-demo eval --weights ${weights} failed (${rc})")
  endif()
  file(READ ${out} json)
  set(${json_var} "${json}" PARENT_SCOPE)
endfunction()

evaluate(${WEIGHTS} ${OUT} ours)
string(JSON correct GET "${ours}" correct)

if(DEFINED REFERENCE)
  evaluate(${REFERENCE} ${OUT}.reference.json ref)
  string(JSON ref_correct GET "${ref}" correct)
  string(JSON per_class GET "${ours}" per_class)
  string(JSON ref_per_class GET "${ref}" per_class)
  message(STATUS "${ARCH}: ${correct} correct from ${WEIGHTS}, ${ref_correct} from ${REFERENCE}")
  if(NOT correct EQUAL ref_correct OR NOT per_class STREQUAL ref_per_class)
    message(FATAL_ERROR "${ARCH}: ${WEIGHTS} predicts otherwise than ${REFERENCE}:\n"
                        "${correct} correct, per class ${per_class}\nagainst ${ref_correct}, ${ref_per_class}")
  endif()
  return()
endif()

file(READ ${LOG} log)
string(JSON expected GET "${log}" stored_weights test_correct)
math(EXPR diff "${correct} - ${expected}")
if(diff LESS 0)
  math(EXPR diff "-${diff}")
endif()
message(STATUS "${ARCH}: salun ${correct} correct, PyTorch ${expected} (difference ${diff})")
if(diff GREATER tolerance)
  message(FATAL_ERROR "${ARCH}: ${correct} correct test images, PyTorch reports ${expected}")
endif()
