# SPDX-License-Identifier: MIT
# The CUDA backend (-DSALUN_BACKEND=cuda): a static library salun::cuda compiled from src/cuda/*.cu
# next to the header-only salun::salun. Consumers that link it get SALUN_WITH_CUDA, which turns on
# the device branches of the headers (core/device.hpp, kernels/device.hpp); everyone else compiles
# exactly the CPU library. Needs the CUDA toolkit with cuBLAS, and cuDNN (headers + library).

# A fixed list, never "native": that needs a GPU at build time, and CI machines have none.
# 80 = A100 (Ampere), 90 = H100/H200 (Hopper); override with -DCMAKE_CUDA_ARCHITECTURES=...
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures of salun::cuda")
endif()
if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)  # the toolkit's usual place, when nvcc is not on PATH
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

find_path(SALUN_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES cudnn)
find_library(SALUN_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib64 lib)
if(NOT SALUN_CUDNN_INCLUDE_DIR OR NOT SALUN_CUDNN_LIBRARY)
  message(FATAL_ERROR "SALUN_BACKEND=cuda needs cuDNN (cudnn.h and libcudnn): install it or set "
                      "SALUN_CUDNN_INCLUDE_DIR and SALUN_CUDNN_LIBRARY")
endif()
message(STATUS "salun: CUDA backend for architectures ${CMAKE_CUDA_ARCHITECTURES} (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
               "cuDNN ${SALUN_CUDNN_LIBRARY})")

file(GLOB SALUN_CUDA_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/cuda/*.cu)
add_library(salun_cuda STATIC ${SALUN_CUDA_SOURCES})
add_library(salun::cuda ALIAS salun_cuda)
set_target_properties(salun_cuda PROPERTIES
  EXPORT_NAME cuda
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  POSITION_INDEPENDENT_CODE ON)
target_include_directories(salun_cuda PRIVATE ${PROJECT_SOURCE_DIR}/src/cuda ${SALUN_CUDNN_INCLUDE_DIR})
# --extended-lambda: the element-wise kernels take __device__ lambdas. Warnings as for the C++ code.
target_compile_options(salun_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:--extended-lambda -Xcompiler=-Wall,-Wextra>)
target_compile_definitions(salun_cuda PUBLIC SALUN_WITH_CUDA=1)
target_link_libraries(salun_cuda
  PUBLIC salun CUDA::cudart
  PRIVATE CUDA::cublas ${SALUN_CUDNN_LIBRARY})
