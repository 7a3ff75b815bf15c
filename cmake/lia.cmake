# Helpers shared by every library and service.

# lia_library(<name> SOURCES ... DEPS ...)
# Declares lia_<name> (alias lia::<name>) with include/ as its public include dir.
function(lia_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(lia_${name} STATIC ${ARG_SOURCES})
  add_library(lia::${name} ALIAS lia_${name})
  target_include_directories(lia_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(lia_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# lia_test(<target> LABEL unit|integration|e2e SOURCES ... DEPS ...)
# One Catch2 executable; every TEST_CASE becomes a ctest test carrying LABEL.
function(lia_test target)
  cmake_parse_arguments(ARG "" "LABEL" "SOURCES;DEPS" ${ARGN})
  if(NOT LIA_BUILD_TESTS)
    return()
  endif()
  if(NOT ARG_LABEL MATCHES "^(unit|integration|e2e)$")
    message(FATAL_ERROR "lia_test(${target}): LABEL must be unit, integration or e2e")
  endif()
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE lia_test_main ${ARG_DEPS})
  catch_discover_tests(${target}
    TEST_PREFIX "${target}: "
    PROPERTIES LABELS ${ARG_LABEL}
    DISCOVERY_MODE PRE_TEST)
endfunction()
