# SPDX-License-Identifier: MIT
# Tests on the real CIFAR-10 data and the PyTorch checkpoints in ../shared (label "data"; they
# need the extract_cifar10 fixture). Skipped at configure time when the files are absent.
# They run beside each other and the unit tests under ctest -j: every test waits passively for its
# OpenMP threads (tests/CMakeLists.txt), so sharing the cores costs no spinning.
set(SALUN_MODELS_DIR "${SALUN_SHARED_DIR}/models")
if(NOT TARGET salun-demo OR NOT EXISTS ${SALUN_DATA_ARCHIVE})
  return()
endif()
if(CMAKE_VERSION VERSION_LESS 3.19)
  message(STATUS "salun: the data tests read JSON with string(JSON), CMake >= 3.19; skipped with ${CMAKE_VERSION}")
  return()
endif()

foreach(arch resnet18 vgg16_bn)
  set(weights ${SALUN_MODELS_DIR}/${arch}_cifar10.safetensors)
  if(NOT EXISTS ${weights})
    continue()
  endif()
  # salun-demo eval gives PyTorch's number of correct test images (from the training log).
  add_test(NAME eval_${arch}_checkpoint
    COMMAND ${CMAKE_COMMAND} -DDEMO=$<TARGET_FILE:salun-demo> -DARCH=${arch} -DWEIGHTS=${weights}
            -DLOG=${SALUN_MODELS_DIR}/${arch}_cifar10.log.json -DDATA=${SALUN_DATA_DIR}
            -DOUT=${CMAKE_CURRENT_BINARY_DIR}/eval_${arch}.json -P ${CMAKE_CURRENT_SOURCE_DIR}/check_eval.cmake)
  set_tests_properties(eval_${arch}_checkpoint PROPERTIES LABELS "data" FIXTURES_REQUIRED cifar10 TIMEOUT 1800)
endforeach()

# The same ResNet-18 checkpoint as a PyTorch .pth (salun-demo convert writes what torch.save
# writes): eval reads it by content and predicts exactly what the .safetensors predicts, class by
# class, on the cut test set (1,000 images: eval_resnet18_checkpoint already matches PyTorch's
# figure on all 10,000 with the same tensors).
set(weights ${SALUN_MODELS_DIR}/resnet18_cifar10.safetensors)
if(EXISTS ${weights})
  set(pth ${CMAKE_CURRENT_BINARY_DIR}/resnet18_cifar10_converted.pth)
  add_test(NAME convert_resnet18_to_pth COMMAND $<TARGET_FILE:salun-demo> convert ${weights} ${pth})
  set_tests_properties(convert_resnet18_to_pth PROPERTIES LABELS "data" FIXTURES_SETUP resnet18_pth)
  add_test(NAME eval_resnet18_pth_checkpoint
    COMMAND ${CMAKE_COMMAND} -DDEMO=$<TARGET_FILE:salun-demo> -DARCH=resnet18 -DWEIGHTS=${pth}
            -DREFERENCE=${weights} -DDATA=${SALUN_DATA_DIR}-small
            -DOUT=${CMAKE_CURRENT_BINARY_DIR}/eval_resnet18_pth.json -P ${CMAKE_CURRENT_SOURCE_DIR}/check_eval.cmake)
  set_tests_properties(eval_resnet18_pth_checkpoint PROPERTIES LABELS "data" FIXTURES_REQUIRED "cifar10;resnet18_pth"
                       TIMEOUT 1800)
endif()

# A quick SalUn run on the real checkpoint: forgets class 0, keeps the rest well above chance.
set(weights ${SALUN_MODELS_DIR}/resnet18_cifar10.safetensors)
if(EXISTS ${weights})
  add_test(NAME unlearn_resnet18_quick
    COMMAND ${CMAKE_COMMAND} -DDEMO=$<TARGET_FILE:salun-demo> -DWEIGHTS=${weights} -DDATA=${SALUN_DATA_DIR}
            -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/unlearn_quick -P ${CMAKE_CURRENT_SOURCE_DIR}/check_unlearn.cmake)
  set_tests_properties(unlearn_resnet18_quick PROPERTIES LABELS "data" FIXTURES_REQUIRED cifar10 TIMEOUT 3600)
  # The report of that small run, written by salun-demo report and opened in headless Chromium
  # (no console message, every section there; screenshot in build/tests/integration/artifacts).
  set_tests_properties(unlearn_resnet18_quick PROPERTIES FIXTURES_SETUP quick_results)
  add_test(NAME report_quick_in_chromium
    COMMAND ${CMAKE_COMMAND} -DDEMO=$<TARGET_FILE:salun-demo> -DRESULTS_DIR=${CMAKE_CURRENT_BINARY_DIR}/unlearn_quick
            -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/unlearn_quick/report.html
            -DSCREENSHOT=${CMAKE_CURRENT_BINARY_DIR}/artifacts/report_quick.png
            "-DSECTIONS=id=\"summary\"|ResNet-18|class=\"accuracy\"|class=\"labels\"|class=\"mask\"|class=\"steps\"|class=\"embedding\"|class=\"cka\"|class=\"attack\""
            -P ${CMAKE_CURRENT_SOURCE_DIR}/check_report_browser.cmake)
  set_tests_properties(report_quick_in_chromium PROPERTIES LABELS "data" FIXTURES_REQUIRED quick_results
                       SKIP_REGULAR_EXPRESSION "SKIP: chromium not found")
endif()

# Resume: a run killed with SIGKILL mid-epoch, or stopped by Ctrl-C, continues with --resume to the
# uninterrupted run's results (tests/integration/check_resume.cmake).
if(EXISTS ${weights})
  add_test(NAME unlearn_resume_after_kill  # on the cut data set (extract_cifar10.cmake)
    COMMAND ${CMAKE_COMMAND} -DDEMO=$<TARGET_FILE:salun-demo> -DWEIGHTS=${weights} -DDATA=${SALUN_DATA_DIR}-small
            -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/resume -P ${CMAKE_CURRENT_SOURCE_DIR}/check_resume.cmake)
  set_tests_properties(unlearn_resume_after_kill PROPERTIES LABELS "data" FIXTURES_REQUIRED cifar10 TIMEOUT 3600)
endif()
add_test(NAME train_resume_after_kill  # on the cut data set (extract_cifar10.cmake)
  COMMAND ${CMAKE_COMMAND} -DDEMO=$<TARGET_FILE:salun-demo> -DDATA=${SALUN_DATA_DIR}-small
          -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/train_resume -P ${CMAKE_CURRENT_SOURCE_DIR}/check_train_resume.cmake)
set_tests_properties(train_resume_after_kill PROPERTIES LABELS "data" FIXTURES_REQUIRED cifar10 TIMEOUT 3600)

# The reference's full experiment (both models, 5 epochs): hours on a 2-core machine, so label "long"
# keeps it out of the default test run (`ctest -L long` runs it).
if(EXISTS ${SALUN_MODELS_DIR}/resnet18_cifar10.safetensors AND EXISTS ${SALUN_MODELS_DIR}/vgg16_bn_cifar10.safetensors)
  add_test(NAME experiment_full
    COMMAND $<TARGET_FILE:salun-demo> experiment --models ${SALUN_MODELS_DIR} --data ${SALUN_DATA_DIR}
            --out-dir ${CMAKE_CURRENT_BINARY_DIR}/experiment)
  set_tests_properties(experiment_full PROPERTIES LABELS "long" FIXTURES_REQUIRED cifar10 RUN_SERIAL TRUE TIMEOUT 36000)
endif()
