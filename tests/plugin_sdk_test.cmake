# Installs the plugin SDK (the one header) into a fresh prefix, then builds the minimal plugin in C
# and compiles the header as C++, against that prefix only. Fails on any warning.
file(REMOVE_RECURSE "${WORK}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK}/prefix" --component plugin_sdk
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
if(NOT EXISTS "${WORK}/prefix/include/sluice/source_plugin.h")
  message(FATAL_ERROR "the install did not put include/sluice/source_plugin.h in the prefix")
endif()
execute_process(COMMAND ${CC} -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Werror -shared -fPIC
                        -I "${WORK}/prefix/include" "${SOURCE}" -o "${WORK}/libminimal.so" -lpthread
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the minimal plugin does not build against the installed header:\n${err}")
endif()
file(WRITE "${WORK}/header.cc" "#include <sluice/source_plugin.h>\nint main() { return SLUICE_SOURCE_ABI_VERSION == 1 ? 0 : 1; }\n")
execute_process(COMMAND ${CXX} -std=c++17 -Wall -Wextra -Wpedantic -Werror -I "${WORK}/prefix/include"
                        "${WORK}/header.cc" -o "${WORK}/header"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the header does not compile as C++:\n${err}")
endif()
message(STATUS "minimal plugin built against ${WORK}/prefix/include")
