# Run at build time: turns <DIR>/NNNN_name.up.sql + NNNN_name.down.sql into a C++ source
# defining `std::vector<lia::pg::Migration> <FUNCTION>()` in namespace <NAMESPACE>.
# Arguments: DIR, OUT, NAMESPACE, FUNCTION; FILES (the folder's file names, for the build's
# bookkeeping only: the folder is read again here).
file(GLOB ups RELATIVE "${DIR}" "${DIR}/*.up.sql")
list(SORT ups)
set(body "")
foreach(up IN LISTS ups)
  string(REGEX MATCH "^([0-9]+)_(.+)\\.up\\.sql$" m "${up}")
  if(NOT m)
    message(FATAL_ERROR "migration file ${DIR}/${up}: expected NNNN_name.up.sql")
  endif()
  set(version "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  math(EXPR version_num "${version}")
  set(down "${version}_${name}.down.sql")
  if(NOT EXISTS "${DIR}/${down}")
    message(FATAL_ERROR "migration ${DIR}/${up} has no reversal ${down}")
  endif()
  file(READ "${DIR}/${up}" up_sql)
  file(READ "${DIR}/${down}" down_sql)
  string(APPEND body "      {${version_num}, \"${name}\", R\"lia_sql(${up_sql})lia_sql\", R\"lia_sql(${down_sql})lia_sql\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from ${DIR} by cmake/embed_migrations.cmake. Do not edit.
#include <lia/pg/migrate.hpp>

namespace ${NAMESPACE} {
std::vector<lia::pg::Migration> ${FUNCTION}() {
  return {
${body}  };
}
}  // namespace ${NAMESPACE}
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
