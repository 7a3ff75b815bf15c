# Turns proto-schemas/ (catalog.json and events/<type>/v<N>.json) into a C++ source file with
# the contents as string literals, so services need no schema files at run time.
#
#   cmake -DROOT=<proto-schemas dir> -DOUT=<generated .cpp> -P embed_schemas.cmake
#
# The output is rewritten only when its content changes.

if(NOT ROOT OR NOT OUT)
  message(FATAL_ERROR "embed_schemas.cmake: pass -DROOT=<proto-schemas dir> -DOUT=<file.cpp>")
endif()

set(delimiter "lia_embed")
file(GLOB_RECURSE schema_files RELATIVE "${ROOT}" "${ROOT}/events/*.json")
list(SORT schema_files)
set(files "catalog.json" ${schema_files})

set(body "")
foreach(rel IN LISTS files)
  if(NOT EXISTS "${ROOT}/${rel}")
    message(FATAL_ERROR "embed_schemas.cmake: ${ROOT}/${rel} does not exist")
  endif()
  file(READ "${ROOT}/${rel}" content)
  string(FIND "${content}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "embed_schemas.cmake: ${rel} contains the raw-string delimiter")
  endif()
  string(APPEND body "    {\"${rel}\",\n     R\"${delimiter}(${content})${delimiter}\"},\n")
endforeach()

set(text "// Generated from proto-schemas/ by libs/events/cmake/embed_schemas.cmake. Do not edit.
#include <lia/events/embedded.hpp>

namespace lia::events {

namespace {

constexpr EmbeddedFile kFiles[] = {
${body}};

}  // namespace

std::span<const EmbeddedFile> embedded_files() { return kFiles; }

}  // namespace lia::events
")

file(WRITE "${OUT}.tmp" "${text}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
