# SPDX-License-Identifier: MIT
# The include arrows between the layers of include/salun run one way: a header under
# ${INCLUDE_DIR}/${LAYER} includes nothing of the layers in FORBIDDEN (a |-list), neither their
# headers (salun/ops/...) nor their umbrella headers (salun/ops.hpp), e.g. core/ nothing of ops/
# or above. Reports every offending #include, with its file and line.
string(REPLACE "|" ", " forbidden_text "${FORBIDDEN}")
string(REPLACE "|" ";" FORBIDDEN "${FORBIDDEN}")
file(GLOB_RECURSE headers RELATIVE ${INCLUDE_DIR} ${INCLUDE_DIR}/${LAYER}/*.hpp)
if(NOT headers)
  message(FATAL_ERROR "no headers under ${INCLUDE_DIR}/${LAYER}")
endif()
set(bad "")
foreach(h ${headers})
  file(STRINGS ${INCLUDE_DIR}/${h} lines)
  set(n 0)
  foreach(line IN LISTS lines)
    math(EXPR n "${n} + 1")
    foreach(layer ${FORBIDDEN})
      if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*[\"<]salun/${layer}[/.]")
        string(APPEND bad "  ${h}:${n}: ${line}\n")
      endif()
    endforeach()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "${LAYER}/ must not include ${forbidden_text} (docs/architecture.md, the layers):\n${bad}")
endif()
list(LENGTH headers count)
message(STATUS "ok: ${count} headers under ${LAYER}/ include nothing of ${forbidden_text}")
