# SPDX-License-Identifier: MIT
# Opens a run report in headless Chromium: fails on any console message (the report holds no
# script, so anything on the console is an error; Chromium logs every console message at its
# INFO level, so levels cannot be told apart) and on any section missing from the rendered DOM,
# and keeps a screenshot as the test's artefact.
#   REPORT      the HTML file (made first by `DEMO report RESULTS_DIR -o REPORT` when DEMO is set)
#   SECTIONS    |-separated strings the rendered DOM must contain
#   SCREENSHOT  where the PNG goes
# Without a chromium binary the test prints "SKIP: chromium not found" (CTest: skipped).
find_program(CHROMIUM NAMES chromium chromium-browser google-chrome)
if(NOT CHROMIUM)
  message("SKIP: chromium not found (Debian: apt-get install chromium)")
  return()
endif()
if(DEMO)
  execute_process(COMMAND ${DEMO} report ${RESULTS_DIR} -o ${REPORT} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "salun-demo report failed (${rc}):\n${out}${err}")
  endif()
endif()
if(NOT EXISTS ${REPORT})
  message(FATAL_ERROR "no report at ${REPORT}")
endif()
get_filename_component(artifacts ${SCREENSHOT} DIRECTORY)
file(MAKE_DIRECTORY ${artifacts})
set(profile ${artifacts}/chromium-profile)  # a fresh profile: no user settings, nothing shared
file(REMOVE_RECURSE ${profile})
set(flags --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir=${profile}
          --enable-logging=stderr --v=0 --hide-scrollbars)
execute_process(COMMAND ${CHROMIUM} ${flags} --dump-dom file://${REPORT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE dom ERROR_VARIABLE log TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "chromium --dump-dom failed (${rc}):\n${log}")
endif()
# Console messages reach the log as "...:INFO:CONSOLE:line] message, source: ...".
string(REGEX MATCHALL "[^\n]*:CONSOLE[^\n]*" console "${log}")
if(console)
  message(FATAL_ERROR "the page logged to the console:\n${console}")
endif()
string(REPLACE "|" ";" SECTIONS "${SECTIONS}")
foreach(s ${SECTIONS})
  string(FIND "${dom}" "${s}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the rendered page lacks '${s}'")
  endif()
endforeach()
execute_process(COMMAND ${CHROMIUM} ${flags} --window-size=1280,2600 --screenshot=${SCREENSHOT} file://${REPORT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE log TIMEOUT 120)
if(NOT rc EQUAL 0 OR NOT EXISTS ${SCREENSHOT})
  message(FATAL_ERROR "chromium --screenshot failed (${rc}):\n${log}")
endif()
file(SIZE ${SCREENSHOT} bytes)
message(STATUS "ok: ${REPORT} rendered, all sections present, no console errors; screenshot ${SCREENSHOT} (${bytes} bytes)")
