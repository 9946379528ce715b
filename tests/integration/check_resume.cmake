# SPDX-License-Identifier: MIT
# Resumable runs of salun-demo unlearn (a tiny run on the real checkpoint: 20 images per class,
# 2 epochs of 2 forget + 12 retain steps):
#  1. an uninterrupted run gives the reference results JSON and weights, and leaves no resume file;
#  2. a run killed with SIGKILL right after its 5th step (epoch 1, in the middle of the retain
#     phase) leaves its resume file and nothing else; --resume then gives the reference JSON
#     (time fields aside), the same weights and the same step log, byte for byte;
#  3. Ctrl-C (SIGINT after step 20, epoch 2) exits 130 with a message, keeps the resume file and
#     writes nothing else; --resume with other options is refused, with the same ones it finishes
#     with the reference results again.
# The signals come from the demo's testing aids SALUN_TEST_KILL_AT_STEP / SALUN_TEST_INTERRUPT_AT_STEP
# (the process signals itself after step N), so the kill lands at the same step on any machine.
cmake_minimum_required(VERSION 3.19)  # string(JSON)
file(REMOVE_RECURSE ${OUT_DIR})
set(args unlearn --arch resnet18 --weights ${WEIGHTS} --data ${DATA} --forget-class 0 --subset 20 --epochs 2
         --batch-size 16 --threads 2 --no-extra-eval --quiet --name run)

function(run_demo dir rc_var out_var)
  execute_process(COMMAND ${DEMO} ${args} --out-dir ${dir} ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${rc_var} "${rc}" PARENT_SCOPE)
  set(${out_var} "${out}${err}" PARENT_SCOPE)
endfunction()

# The results JSON without the fields that depend on when and how fast the run was.
function(results_without_time dir var)
  file(READ ${dir}/run.json json)
  foreach(key CreatedAt RTE)
    string(JSON json REMOVE "${json}" ${key})
  endforeach()
  set(${var} "${json}" PARENT_SCOPE)
endfunction()

function(expect_only_resume_file dir)
  file(GLOB left RELATIVE ${dir} ${dir}/*)
  if(NOT left STREQUAL "run.resume.safetensors")
    message(FATAL_ERROR "an interrupted run must leave only its resume file in ${dir}, found: ${left}")
  endif()
endfunction()

function(expect_same_as_reference dir)
  results_without_time(${OUT_DIR}/ref ref_json)
  results_without_time(${dir} json)
  if(NOT json STREQUAL ref_json)
    message(FATAL_ERROR "the resumed run's results differ from the uninterrupted run's:\n${json}\nreference:\n${ref_json}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT_DIR}/ref/run.safetensors ${dir}/run.safetensors
                  RESULT_VARIABLE differ)
  if(differ)
    message(FATAL_ERROR "the resumed run's weights differ from the uninterrupted run's")
  endif()
  # The step log too: the steps before the interruption come back from the resume file.
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT_DIR}/ref/run.steps.jsonl ${dir}/run.steps.jsonl
                  RESULT_VARIABLE differ)
  if(differ)
    message(FATAL_ERROR "the resumed run's step log differs from the uninterrupted run's")
  endif()
  if(EXISTS ${dir}/run.resume.safetensors)
    message(FATAL_ERROR "a finished run left its resume file behind")
  endif()
endfunction()

# Continues the run in `dir` with --resume; it must end as the uninterrupted run did.
function(resume_to_reference dir)
  run_demo(${dir} rc out --resume)
  if(rc)
    message(FATAL_ERROR "the resumed run failed (${rc}):\n${out}")
  endif()
  expect_same_as_reference(${dir})
endfunction()

# 1. Uninterrupted.
run_demo(${OUT_DIR}/ref rc out)
if(rc)
  message(FATAL_ERROR "the uninterrupted run failed (${rc}):\n${out}")
endif()
if(EXISTS ${OUT_DIR}/ref/run.resume.safetensors)
  message(FATAL_ERROR "a finished run left its resume file behind")
endif()

# 2. SIGKILL in the middle of epoch 1, then --resume.
set(ENV{SALUN_TEST_KILL_AT_STEP} 5)
run_demo(${OUT_DIR}/killed rc out)
unset(ENV{SALUN_TEST_KILL_AT_STEP})
if(rc EQUAL 0 OR NOT rc MATCHES "[Kk]illed|137")
  message(FATAL_ERROR "expected the run to die of SIGKILL, got '${rc}':\n${out}")
endif()
expect_only_resume_file(${OUT_DIR}/killed)
resume_to_reference(${OUT_DIR}/killed)
message(STATUS "SIGKILL at step 5, --resume: same results JSON and weights as the uninterrupted run")

# 3. Ctrl-C in epoch 2: a clean stop, a refused resume with other options, then --resume.
set(ENV{SALUN_TEST_INTERRUPT_AT_STEP} 20)
run_demo(${OUT_DIR}/ctrl_c rc out)
unset(ENV{SALUN_TEST_INTERRUPT_AT_STEP})
if(NOT rc EQUAL 130 OR NOT out MATCHES "interrupted; the unfinished run wrote no results\\. Kept .*run\\.resume\\.safetensors: run the same command with --resume")
  message(FATAL_ERROR "expected exit status 130 and the resume message after Ctrl-C, got '${rc}':\n${out}")
endif()
expect_only_resume_file(${OUT_DIR}/ctrl_c)
run_demo(${OUT_DIR}/ctrl_c rc out --resume --lr 0.05)
if(NOT rc EQUAL 1 OR NOT out MATCHES "other options \\(lr: 0\\.1 in the file, 0\\.05 now\\)")
  message(FATAL_ERROR "a resume with another --lr must be refused, got '${rc}':\n${out}")
endif()
expect_only_resume_file(${OUT_DIR}/ctrl_c)
resume_to_reference(${OUT_DIR}/ctrl_c)
message(STATUS "Ctrl-C at step 20: exit 130, only the resume file kept; --resume: same results again")
