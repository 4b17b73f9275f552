# berth_cc_library(NAME SRCS HDRS DEPS): one static library per module, includes rooted at src/.
function(berth_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  add_library(berth_${A_NAME} STATIC ${A_SRCS} ${A_HDRS})
  target_include_directories(berth_${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(berth_${A_NAME} PUBLIC ${A_DEPS})
endfunction()

# berth_cc_test(NAME SRCS DEPS): a GoogleTest binary registered with CTest.
function(berth_cc_test)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  if(NOT BERTH_BUILD_TESTS)
    return()
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  set_tests_properties(${A_NAME} PROPERTIES LABELS unit)
endfunction()
