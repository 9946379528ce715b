# SPDX-License-Identifier: MIT
# salun-demo rejects bad input with a clear message and a non-zero exit (2: bad command line,
# 1: bad data or a failure while running), and leaves no half-written output.
if(NOT TARGET salun-demo)
  return()
endif()

function(salun_cli_test name rc regex)
  cmake_parse_arguments(T "" "NO_OUTPUT_DIR;LABELS;FIXTURE" "" ${ARGN})
  string(REPLACE ";" "|" args "${T_UNPARSED_ARGUMENTS}")  # ARGS travels as one string
  string(REPLACE ";" "|" emulator "${CMAKE_CROSSCOMPILING_EMULATOR}")  # e.g. qemu-aarch64 -L ...
  add_test(NAME cli_${name}
    COMMAND ${CMAKE_COMMAND} -DDEMO=$<TARGET_FILE:salun-demo> "-DEMULATOR=${emulator}" "-DARGS=${args}" -DEXPECT_RC=${rc}
            "-DEXPECT_REGEX=${regex}" -DNO_OUTPUT_DIR=${T_NO_OUTPUT_DIR} -P ${CMAKE_CURRENT_SOURCE_DIR}/check_cli.cmake)
  if(NOT T_LABELS)
    set(T_LABELS "unit")
  endif()
  set_tests_properties(cli_${name} PROPERTIES LABELS "${T_LABELS}")
  if(T_FIXTURE)
    set_tests_properties(cli_${name} PROPERTIES FIXTURES_REQUIRED ${T_FIXTURE})
  endif()
endfunction()

set(out ${CMAKE_CURRENT_BINARY_DIR}/cli_out)
salun_cli_test(help 0 "--forget-class VALUE.*default: 0" unlearn --help)
salun_cli_test(unknown_command 2 "unknown command 'frobnicate'" frobnicate)
salun_cli_test(unknown_option 2 "unknown option --colour" eval --colour red)
salun_cli_test(forget_class_range 2 "--forget-class must be in 0..9, got 12"
  unlearn --arch resnet18 --weights w.safetensors --forget-class 12 --out-dir ${out} NO_OUTPUT_DIR ${out})
salun_cli_test(threshold_range 2 "--threshold must be in \\(0, 1\\], got 1.5"
  unlearn --arch resnet18 --weights w.safetensors --threshold 1.5 --out-dir ${out} NO_OUTPUT_DIR ${out})
salun_cli_test(epochs_positive 2 "--epochs must be positive, got 0"
  unlearn --arch resnet18 --weights w.safetensors --epochs 0 --out-dir ${out} NO_OUTPUT_DIR ${out})
salun_cli_test(batch_size_positive 2 "--batch-size must be positive, got -3"
  unlearn --arch resnet18 --weights w.safetensors --batch-size -3 --out-dir ${out} NO_OUTPUT_DIR ${out})
salun_cli_test(not_a_number 2 "--lr expects a number, got 'fast'"
  unlearn --arch resnet18 --weights w.safetensors --lr fast --out-dir ${out})
salun_cli_test(unknown_arch 2 "--arch must be one of resnet18, vgg16_bn, vgg16_bn_timm"
  eval --arch resnet50 --weights w.safetensors)
salun_cli_test(missing_data 1 "download_cifar10.sh"
  eval --arch resnet18 --weights w.safetensors --data ${CMAKE_CURRENT_BINARY_DIR}/no_such_folder)
# Found by tests/fuzz/fuzz_demo_args.cpp: numbers the commands could not use were accepted (2^32 + 1
# epochs ran 1, a huge train --epochs overflowed the step count, NaN momentum reached SGD).
salun_cli_test(short_help 0 "usage: salun-demo COMMAND" -h)
# A bare salun-demo prints the usage and fails (it used to start the hours-long experiment).
salun_cli_test(no_command 2 "no command given.*usage: salun-demo COMMAND.*convert")
salun_cli_test(option_before_command 2 "the command comes first, got '--models'" --models m)
salun_cli_test(help_marks_required 0 "usage: salun-demo train --arch VALUE --out VALUE.*--arch VALUE +resnet18, vgg16_bn .*vgg16_bn_timm .*\\(required\\)" train --help)
salun_cli_test(train_out_format 2 "--out must end in .safetensors, .pth or .pt, got 'r.bin'" train --arch resnet18 --out r.bin)
salun_cli_test(name_no_folder 2 "--name is a file name stem, without folders"
  unlearn --arch resnet18 --weights w.pth --out-dir ${out} --name a/b NO_OUTPUT_DIR ${out})
salun_cli_test(resume_needs_name 2 "--resume needs --name"
  unlearn --arch resnet18 --weights w.pth --out-dir ${out} --resume NO_OUTPUT_DIR ${out})
salun_cli_test(experiment_resume_needs_name 2 "--resume needs --name" experiment --models m --resume NO_OUTPUT_DIR ${out})
salun_cli_test(mean_std_together 2 "--mean and --std go together" eval --arch resnet18 --weights w.pth --mean 0.5,0.5,0.5)
salun_cli_test(mean_three_numbers 2 "--mean expects three numbers R,G,B, got '0.5,0.5'"
  eval --arch resnet18 --weights w.pth --mean 0.5,0.5 --std 1,1,1)
# convert: .pth <-> .safetensors by content; refused pickles leave no output behind.
salun_cli_test(convert_pth 0 "wrote .*converted.safetensors: 10 tensors, pth -> safetensors \\(the state dict under 'state_dict'\\)"
  convert ${PROJECT_SOURCE_DIR}/tests/fixtures/pth/normalize.pth ${CMAKE_CURRENT_BINARY_DIR}/converted.safetensors)
salun_cli_test(convert_refuses_code 1 "refuses to load global 'posix.system'.*never executed"
  convert ${PROJECT_SOURCE_DIR}/tests/fixtures/pth/malicious.pth ${out}_refused/x.safetensors NO_OUTPUT_DIR ${out}_refused)
salun_cli_test(convert_out_format 2 "OUT must end in .safetensors, .pth or .pt" convert a.pth b.txt)
# (an empty RESULTS_DIR, which a CMake list cannot pass, is the fuzz corpus seed regress_report_empty_dir)
salun_cli_test(report_needs_dir 2 "'report' needs RESULTS_DIR" report)
# The version CMake read from include/salun/version.hpp is the one the demo was compiled with.
string(REPLACE "." "\\." version_regex "${PROJECT_VERSION}")
salun_cli_test(version 0 "^salun-demo ${version_regex}[^0-9.]" --version)
salun_cli_test(train_epochs_too_large 2 "--epochs must be at most 2147483647, got 99999999999999001"
  train --arch resnet18 --out ${out}/r.safetensors --epochs 99999999999999001 NO_OUTPUT_DIR ${out})
salun_cli_test(epochs_not_cut_to_int 2 "--epochs must be at most 2147483647, got 4294967297"
  unlearn --arch resnet18 --weights w.safetensors --epochs 4294967297 --out-dir ${out} NO_OUTPUT_DIR ${out})
salun_cli_test(threads_not_cut_to_int 2 "--threads must be at most 2147483647, got 4294967296"
  eval --arch resnet18 --weights w.safetensors --threads 4294967296)
salun_cli_test(lr_finite 2 "--lr expects a finite number, got 'inf'"
  unlearn --arch resnet18 --weights w.safetensors --lr inf --out-dir ${out} NO_OUTPUT_DIR ${out})
salun_cli_test(momentum_finite 2 "--momentum expects a finite number, got 'nan'"
  experiment --models m --momentum nan NO_OUTPUT_DIR ${out})
salun_cli_test(momentum_not_negative 2 "--momentum must be >= 0, got -0.5"
  unlearn --arch vgg16_bn --weights w.safetensors --momentum -0.5 --out-dir ${out} NO_OUTPUT_DIR ${out})
salun_cli_test(weight_decay_not_negative 2 "--weight-decay must be >= 0, got -1e-4"
  unlearn --arch vgg16_bn --weights w.safetensors --weight-decay -1e-4 --out-dir ${out} NO_OUTPUT_DIR ${out})
# --device cuda where it cannot run: a clear error and exit status 1 before any data is read, for
# every command (a CPU-only build; in a CUDA build without a GPU, the "no CUDA device" error).
salun_cli_test(device_unknown 2 "--device must be cpu or cuda, got 'tpu'" eval --arch resnet18 --weights w.safetensors --device tpu)
if(TARGET salun_cuda)
  set(no_cuda "(--device cuda: no CUDA device is available|download_cifar10)")  # with a GPU: no data here
else()
  set(no_cuda "--device cuda: salun was built without the cuda backend; configure with -DSALUN_BACKEND=cuda")
endif()
salun_cli_test(device_cuda_eval 1 "${no_cuda}" eval --arch resnet18 --weights w.safetensors --device cuda --data ${out}/none)
salun_cli_test(device_cuda_train 1 "${no_cuda}"
  train --arch resnet18 --out ${out}/r.safetensors --device cuda --data ${out}/none NO_OUTPUT_DIR ${out})
salun_cli_test(device_cuda_unlearn 1 "${no_cuda}"
  unlearn --arch resnet18 --weights w.safetensors --out-dir ${out} --device cuda --data ${out}/none NO_OUTPUT_DIR ${out})
salun_cli_test(device_cuda_experiment 1 "${no_cuda}"
  experiment --models m --out-dir ${out} --device cuda --data ${out}/none NO_OUTPUT_DIR ${out})

# These need the real data (and checkpoints) to get past the data check.
if(EXISTS ${SALUN_DATA_ARCHIVE} AND EXISTS ${SALUN_SHARED_DIR}/models/vgg16_bn_cifar10.safetensors)
  salun_cli_test(missing_checkpoint 1 "weights file '.*nope.safetensors' does not exist"
    eval --arch resnet18 --weights ${CMAKE_CURRENT_BINARY_DIR}/nope.safetensors --data ${SALUN_DATA_DIR}
    LABELS data FIXTURE cifar10)
  salun_cli_test(mismatched_checkpoint 1 "does not fit resnet18.*([Mm]issing|[Uu]nexpected) key"
    eval --arch resnet18 --weights ${SALUN_SHARED_DIR}/models/vgg16_bn_cifar10.safetensors --data ${SALUN_DATA_DIR}
    LABELS data FIXTURE cifar10)
  salun_cli_test(nan_loss 1 "loss became (nan|inf|-nan)"
    unlearn --arch vgg16_bn --weights ${SALUN_SHARED_DIR}/models/vgg16_bn_cifar10.safetensors --data ${SALUN_DATA_DIR}
    --lr 1e30 --subset 20 --epochs 1 --quiet --out-dir ${out}_nan NO_OUTPUT_DIR ${out}_nan LABELS data FIXTURE cifar10)
endif()

# The start-up CPU check (include/salun/core/cpu_features.hpp, docs/architecture.md) on a machine
# that has everything: SALUN_CPU_DISABLE, a testing aid, removes features from what it detects.
# Exit status 1 (not the help's 0) shows that main() never ran.
if(SALUN_X86_64 AND NOT CMAKE_CROSSCOMPILING)
  salun_cli_test(cpu_check_unknown_name 0 "--forget-class.*SALUN_CPU_DISABLE: unknown feature 'avx3' ignored" unlearn --help)
  set_tests_properties(cli_cpu_check_unknown_name PROPERTIES ENVIRONMENT SALUN_CPU_DISABLE=avx3)
  if(SALUN_NATIVE)
    # Which tests fit depends on what -march=native enables on the machine that configures.
    include(CheckCXXSourceCompiles)
    set(CMAKE_REQUIRED_FLAGS -march=native)
    foreach(macro SSE3 AVX2 AVX512F FMA4)
      check_cxx_source_compiles("#if !defined(__${macro}__)\n#error\n#endif\nint main() { return 0; }"
        SALUN_NATIVE_HAS_${macro})
    endforeach()
    unset(CMAKE_REQUIRED_FLAGS)
    if(SALUN_NATIVE_HAS_SSE3)
      salun_cli_test(cpu_check_all 1
        "salun-demo: this CPU lacks instruction sets the program was compiled for: sse3.*compiled for x86-64.*this CPU is x86-64 \\(missing.*SIGILL.*rebuild it on this machine.*-DSALUN_NATIVE=OFF"
        unlearn --help)
      set_tests_properties(cli_cpu_check_all PROPERTIES ENVIRONMENT SALUN_CPU_DISABLE=all)
    endif()
    if(SALUN_NATIVE_HAS_AVX2)
      salun_cli_test(cpu_check_avx2 1 "compiled for: avx2\\..*\\(missing x86-64-v3.*-DSALUN_NATIVE=OFF" unlearn --help)
      set_tests_properties(cli_cpu_check_avx2 PROPERTIES ENVIRONMENT SALUN_CPU_DISABLE=avx2)
      if(SALUN_QEMU_X86_64)  # an emulated SSE4.2-only CPU with its own CPUID (tests/CMakeLists.txt)
        add_test(NAME cli_cpu_check_qemu_nehalem
          COMMAND ${CMAKE_COMMAND} -DDEMO=${SALUN_QEMU_X86_64} "-DARGS=-cpu|Nehalem|$<TARGET_FILE:salun-demo>|unlearn|--help"
                  -DEXPECT_RC=1 "-DEXPECT_REGEX=salun-demo: this CPU lacks .*avx2.*this CPU is x86-64-v2 \\(missing x86-64-v3.*-DSALUN_NATIVE=OFF"
                  -P ${CMAKE_CURRENT_SOURCE_DIR}/check_cli.cmake)
        set_tests_properties(cli_cpu_check_qemu_nehalem PROPERTIES LABELS "isa")  # not with sanitizers (-L unit)
      endif()
    endif()
    if(SALUN_NATIVE_HAS_AVX512F)
      salun_cli_test(cpu_check_avx512 1 "compiled for: avx512f, avx512bw, .*\\(missing x86-64-v4\\)" unlearn --help)
      set_tests_properties(cli_cpu_check_avx512 PROPERTIES ENVIRONMENT SALUN_CPU_DISABLE=x86-64-v4)
    endif()
    if(NOT SALUN_NATIVE_HAS_FMA4)
      # Only what the program was compiled for counts: a CPU without FMA4 runs it.
      salun_cli_test(cpu_check_not_compiled_for 0 "--forget-class" unlearn --help)
      set_tests_properties(cli_cpu_check_not_compiled_for PROPERTIES ENVIRONMENT SALUN_CPU_DISABLE=fma4,xop)
    endif()
  endif()
endif()

# salun-walkthrough narrates every step of SalUn on synthetic data (docs/tutorial.md quotes it).
if(TARGET salun-walkthrough)
  string(REPLACE ";" "|" emulator "${CMAKE_CROSSCOMPILING_EMULATOR}")
  add_test(NAME walkthrough_synthetic
    COMMAND ${CMAKE_COMMAND} -DDEMO=$<TARGET_FILE:salun-walkthrough> "-DEMULATOR=${emulator}"
            "-DARGS=--synthetic|--subset|60|--threads|2" -DEXPECT_RC=0
            "-DEXPECT_REGEX=Step 2: the saliency mask.*selected \\(75.0%\\).*Step 3: phase 1 \\(forget\\).*Step 4: phase 2 \\(retain\\).*UA [0-9.]+  RA [0-9.]+  TUA"
            -P ${CMAKE_CURRENT_SOURCE_DIR}/check_cli.cmake)
  set_tests_properties(walkthrough_synthetic PROPERTIES LABELS "integration")  # not "unit": minutes under qemu or ASan
endif()

# scripts/download_models.sh with --from-file (no network here): a local .pth is checked against
# the pinned SHA-256 (given through SALUN_RESNET18_SHA256) and lands as DIR/resnet18_cifar10.pth; a
# wrong checksum or a file that is not a PyTorch checkpoint fails and leaves nothing behind.
find_program(SALUN_BASH bash)
if(SALUN_BASH)
  set(script ${PROJECT_SOURCE_DIR}/scripts/download_models.sh)
  set(local_pth ${PROJECT_SOURCE_DIR}/tests/fixtures/pth/plain.pth)
  file(SHA256 ${local_pth} local_sha)
  set(dl ${CMAKE_CURRENT_BINARY_DIR}/download_models)
  add_test(NAME download_models_from_file
    COMMAND ${CMAKE_COMMAND} -DDEMO=${SALUN_BASH} "-DARGS=${script}|--from-file|${local_pth}|${dl}/ok" -DEXPECT_RC=0
            "-DEXPECT_REGEX=SHA-256 ok \\(${local_sha}\\).*${dl}/ok/resnet18_cifar10.pth" -P ${CMAKE_CURRENT_SOURCE_DIR}/check_cli.cmake)
  add_test(NAME download_models_wrong_checksum
    COMMAND ${CMAKE_COMMAND} -DDEMO=${SALUN_BASH} "-DARGS=${script}|--from-file|${local_pth}|${dl}/bad" -DEXPECT_RC=1
            "-DEXPECT_REGEX=SHA-256 mismatch: got ${local_sha}" -DNO_OUTPUT_DIR=${dl}/bad -P ${CMAKE_CURRENT_SOURCE_DIR}/check_cli.cmake)
  add_test(NAME download_models_not_a_checkpoint
    COMMAND ${CMAKE_COMMAND} -DDEMO=${SALUN_BASH}
            "-DARGS=${script}|--from-file|${PROJECT_SOURCE_DIR}/tests/fixtures/metrics_golden.json|${dl}/json" -DEXPECT_RC=1
            "-DEXPECT_REGEX=is not a PyTorch zip checkpoint" -DNO_OUTPUT_DIR=${dl}/json -P ${CMAKE_CURRENT_SOURCE_DIR}/check_cli.cmake)
  set_tests_properties(download_models_from_file PROPERTIES LABELS "unit" ENVIRONMENT "SALUN_RESNET18_SHA256=${local_sha}")
  set_tests_properties(download_models_wrong_checksum PROPERTIES LABELS "unit"
                       ENVIRONMENT "SALUN_RESNET18_SHA256=0000000000000000000000000000000000000000000000000000000000000000")
  set_tests_properties(download_models_not_a_checkpoint PROPERTIES LABELS "unit")
endif()

# SALUN_NUM_THREADS is parsed whole (it was atoi: "4x" ran 4 threads, "x" failed as "0").
salun_cli_test(threads_env_checked 1 "SALUN_NUM_THREADS must be a positive integer \\(at most 2147483647\\), got '4x'"
  eval --arch resnet18 --weights w.pth --data ${CMAKE_CURRENT_BINARY_DIR}/no_such_folder)
set_tests_properties(cli_threads_env_checked PROPERTIES ENVIRONMENT "SALUN_NUM_THREADS=4x")
