# Installs the embedding SDK (libsluice.so, the public headers, the CMake package) into a fresh
# prefix, builds examples/embed as a separate project against that prefix only, and runs it on the
# shared photographs with the fp32 MobileNetV2 (stable on every CPU: dog.jpg is a malamute).
file(REMOVE_RECURSE "${WORK}")
set(model "${SHARED}/models/mobilenetv2-12-fp32/mobilenetv2-12-fp32.onnx")
if(NOT EXISTS "${model}" OR NOT EXISTS "${SHARED}/images/dog.jpg")
  message("SKIPPED: the shared model or photographs are absent under '${SHARED}' (set SLUICE_SHARED_DIR)")
  return()
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK}/prefix" --component sdk
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install --component sdk failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE}" -B "${WORK}/build" -DCMAKE_PREFIX_PATH=${WORK}/prefix
                        -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the example does not configure against the installed package:\n${out}\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK}/build" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the example does not build against the installed package:\n${out}\n${err}")
endif()
execute_process(COMMAND "${WORK}/build/classify_folder" "${model}" "${SHARED}/images" imagenet
                        "${SHARED}/models/mobilenetv2-12-fp32/imagenet_classes.txt"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 300)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the example failed (${rc}):\n${out}\n${err}")
endif()
string(REGEX MATCHALL "[^\n]+" lines "${out}")
list(LENGTH lines count)
file(GLOB photos "${SHARED}/images/*.jpg")
list(LENGTH photos expected)
if(NOT count EQUAL expected)
  message(FATAL_ERROR "expected one line per photograph (${expected}), got ${count}:\n${out}")
endif()
if(NOT out MATCHES "dog.jpg\tmalamute\t")
  message(FATAL_ERROR "dog.jpg should be a malamute with the fp32 model:\n${out}")
endif()
message(STATUS "classify_folder, built against ${WORK}/prefix:\n${out}")
