# SPDX-License-Identifier: Apache-2.0
# cmake -DSOURCE_DIR=... -DINPUT=version.cc.in -DOUTPUT=version.cc -DVERSION=x.y.z -P Version.cmake
#
# Writes the one translation unit that knows the version: CMake's
# project(VERSION) and, in a git checkout, the commit. Run on every build;
# the file is rewritten only when its text changes, so a new commit
# recompiles this file and relinks, nothing else.
set(NBW_GIT_COMMIT "")
find_package(Git QUIET)
if(GIT_FOUND)
  # Only this tree's own checkout: a release tarball unpacked inside some
  # other repository must not report that repository's commit.
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --show-toplevel
                          --short=12 HEAD
                  OUTPUT_VARIABLE out OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc ERROR_QUIET)
  if(rc EQUAL 0)
    string(REPLACE "\n" ";" out "${out}")
    list(GET out 0 top)
    file(REAL_PATH "${top}" top)
    file(REAL_PATH "${SOURCE_DIR}" src)
    if(top STREQUAL src)
      list(GET out 1 NBW_GIT_COMMIT)
    endif()
  endif()
endif()
set(NBW_VERSION "${VERSION}")
configure_file("${INPUT}" "${OUTPUT}" @ONLY)
