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

# The tests' own code is compiled at -O1 where the build type asks for -O2: its Catch2 macros
# make large functions that -O2 takes about 30 % longer over (normalize_test.cpp: 11.4 s
# against 8.8 s), for tests that wait on sockets and databases. What they test, the
# libraries, keeps the build type's flags.
function(lia_test_code_options target)
  if(CMAKE_BUILD_TYPE MATCHES "^(RelWithDebInfo|Release)$" AND NOT LIA_FUZZ)
    target_compile_options(${target} PRIVATE -O1)
  endif()
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
  lia_test_code_options(${target})
  catch_discover_tests(${target}
    TEST_PREFIX "${target}: "
    EXTRA_ARGS --warn NoTests --warn-no-assertions
    PROPERTIES LABELS ${ARG_LABEL} ENVIRONMENT "LIA_BIN_DIR=${CMAKE_BINARY_DIR}/bin"
    DISCOVERY_MODE PRE_TEST)
endfunction()

# lia_embed_migrations(<target> DIR <dir> NAMESPACE <ns> [FUNCTION <fn>])
# Compiles the migration files of <dir> into <target> as `std::vector<lia::pg::Migration>
# <ns>::<fn>()` (fn defaults to `migrations`), so `--migrate` needs no files at run time.
function(lia_embed_migrations target)
  cmake_parse_arguments(ARG "" "DIR;NAMESPACE;FUNCTION" "" ${ARGN})
  if(NOT ARG_FUNCTION)
    set(ARG_FUNCTION migrations)
  endif()
  file(GLOB sql CONFIGURE_DEPENDS "${ARG_DIR}/*.sql")
  # The file names go on the command line: a removed or renamed migration changes it, so
  # the build embeds again (a shorter DEPENDS list alone would not rerun the command).
  list(TRANSFORM sql REPLACE "^.*/" "" OUTPUT_VARIABLE names)
  list(SORT names)
  list(JOIN names "," names)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.cpp")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DDIR=${ARG_DIR} -DOUT=${out} -DNAMESPACE=${ARG_NAMESPACE}
            -DFUNCTION=${ARG_FUNCTION} -DFILES=${names}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    DEPENDS ${sql} ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    COMMENT "Embedding migrations of ${ARG_DIR}")
  target_sources(${target} PRIVATE "${out}")
endfunction()

# lia_service(<svc> SOURCES ... DEPS ... [PORT n])
# The service library lia_<svc> (what its tests link), its migrations, and the executable
# lia-<svc-with-dashes> built from main.cpp into ${CMAKE_BINARY_DIR}/bin.
function(lia_service svc)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  lia_library(${svc} SOURCES ${ARG_SOURCES} DEPS lia::runtime ${ARG_DEPS})
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/migrations)
    lia_embed_migrations(lia_${svc} DIR ${CMAKE_CURRENT_SOURCE_DIR}/migrations NAMESPACE lia::${svc})
  endif()
  string(REPLACE "_" "-" exe "lia-${svc}")
  add_executable(${exe} main.cpp)
  target_link_libraries(${exe} PRIVATE lia_${svc})
  set_target_properties(${exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endfunction()
