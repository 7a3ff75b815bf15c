#pragma once
// RapidJSON's JSON Schema (draft-04) validator and JSON Pointer, configured through
// <lia/json/json.hpp>. Heavy: include it only in the few .cpp files that validate.
//
// Caution (RapidJSON 1.1.0): a compiled SchemaDocument whose schema has "pattern" or
// "patternProperties" keeps regex match state inside itself, so two validators must not use
// the same SchemaDocument at the same time (lia::events::SchemaRegistry locks per schema).

// The wrapper must come first: it configures RapidJSON.
// clang-format off
#include <lia/json/json.hpp>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
// clang-format on
