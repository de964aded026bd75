# Every test runs from `make check` (ctest). Labels: "asan" marks the tests
# that also run in the sanitizer build (fast enough under ASan+UBSan).
set(SPD_SHARED "${CMAKE_SOURCE_DIR}/../shared" CACHE PATH "the shared/ folder beside the checkout")
set(SPD_PY /usr/bin/python3)
set(SPD_BIN $<TARGET_FILE:speedster_cli>)
set(SPD_WORK ${CMAKE_BINARY_DIR}/testdata)

function(spd_unit_test name)
  add_executable(${name} tests/unit/${name}.c $<TARGET_OBJECTS:speedster_obj>)
  target_include_directories(${name} PRIVATE include src)
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
  target_link_libraries(${name} PRIVATE m Threads::Threads)
  add_test(NAME ${name} COMMAND ${name} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS "asan;unit")
endfunction()

foreach(t test_runtime test_io)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/${t}.c)
    spd_unit_test(${t} ${SPD_WORK}/conformance/node)
  endif()
endforeach()
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_api.c)
  spd_unit_test(test_api ${CMAKE_SOURCE_DIR})
endif()
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_passes.c)
  add_test(NAME passes_models COMMAND ${SPD_PY} ${CMAKE_SOURCE_DIR}/tests/passes/make_pass_models.py ${SPD_WORK}/passes)
  set_tests_properties(passes_models PROPERTIES FIXTURES_SETUP passes LABELS "asan")
  spd_unit_test(test_passes ${SPD_WORK}/passes)
  set_tests_properties(test_passes PROPERTIES FIXTURES_REQUIRED passes)
  # Every conformance model through the whole pass pipeline: same outputs.
  add_test(NAME passes_conformance_sweep COMMAND test_passes --sweep ${SPD_WORK}/conformance/node)
  set_tests_properties(passes_conformance_sweep PROPERTIES FIXTURES_REQUIRED conformance LABELS "asan")
endif()
spd_unit_test(test_gemm)
spd_unit_test(test_kernels)

# The ONNX operator conformance suite, generated at test time.
add_test(NAME conformance_generate
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/conformance/generate.sh ${SPD_SHARED}/conformance ${SPD_WORK}/conformance)
set_tests_properties(conformance_generate PROPERTIES FIXTURES_SETUP conformance LABELS "asan")
add_test(NAME conformance_node
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/conformance/check_node.sh ${SPD_BIN} ${SPD_WORK}/conformance/node
          ${CMAKE_SOURCE_DIR}/tests/conformance/exclusions.txt)
set_tests_properties(conformance_node PROPERTIES FIXTURES_REQUIRED conformance LABELS "asan" TIMEOUT 1200)
if(TARGET test_runtime)
  set_tests_properties(test_runtime PROPERTIES FIXTURES_REQUIRED conformance)
endif()
if(TARGET test_io)
  set_tests_properties(test_io PROPERTIES FIXTURES_REQUIRED conformance)
endif()
add_test(NAME conformance_pytorch
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/conformance/check_pytorch.sh ${SPD_BIN} ${SPD_SHARED}/conformance/pytorch
          ${CMAKE_SOURCE_DIR}/tests/conformance/exclusions_pytorch.txt)
set_tests_properties(conformance_pytorch PROPERTIES LABELS "asan" SKIP_RETURN_CODE 77)

add_test(NAME example_tiny_cnn COMMAND ${SPD_BIN} check ${CMAKE_SOURCE_DIR}/examples/tiny_cnn)
set_tests_properties(example_tiny_cnn PROPERTIES LABELS "asan")

if(EXISTS ${CMAKE_SOURCE_DIR}/tests/badinput/run_bad.sh)
  add_test(NAME bad_input COMMAND bash ${CMAKE_SOURCE_DIR}/tests/badinput/run_bad.sh ${SPD_BIN} ${SPD_WORK}/bad)
  set_tests_properties(bad_input PROPERTIES LABELS "asan" TIMEOUT 600)
endif()
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/models/run_models.sh)
  add_test(NAME pytorch_models COMMAND bash ${CMAKE_SOURCE_DIR}/tests/models/run_models.sh ${SPD_BIN} ${SPD_WORK}/models)
  set_tests_properties(pytorch_models PROPERTIES LABELS "models" TIMEOUT 1800)
endif()
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/optimize/run_optimize_tests.sh)
  add_test(NAME optimize COMMAND bash ${CMAKE_SOURCE_DIR}/tests/optimize/run_optimize_tests.sh ${SPD_BIN} ${SPD_WORK}/optimize)
  set_tests_properties(optimize PROPERTIES LABELS "optimize" TIMEOUT 1200)
endif()
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/python/run_python_tests.sh)
  add_test(NAME python COMMAND bash ${CMAKE_SOURCE_DIR}/tests/python/run_python_tests.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(python PROPERTIES LABELS "python" TIMEOUT 1200)
endif()
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_onednn.c)
  add_executable(test_onednn tests/unit/test_onednn.c $<TARGET_OBJECTS:speedster_obj>)
  target_include_directories(test_onednn PRIVATE include src)
  target_compile_definitions(test_onednn PRIVATE _GNU_SOURCE)
  target_link_libraries(test_onednn PRIVATE m Threads::Threads)
  # onednn against native on the example and the conformance cases of the
  # operators it claims (weights frozen into initializers by the test).
  add_test(NAME test_onednn COMMAND sh -c "exec $<TARGET_FILE:test_onednn> ${CMAKE_SOURCE_DIR}/examples/tiny_cnn ${SPD_WORK}/conformance/node/test_conv* ${SPD_WORK}/conformance/node/test_gemm* ${SPD_WORK}/conformance/node/test_matmul* ${SPD_WORK}/conformance/node/test_*pool*")
  set_tests_properties(test_onednn PROPERTIES SKIP_RETURN_CODE 77 FIXTURES_REQUIRED conformance LABELS "asan")
endif()
