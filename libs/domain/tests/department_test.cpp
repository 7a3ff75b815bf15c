#include <catch2/catch.hpp>

#include <lia/domain/department.hpp>

using lia::domain::department_for_assistant;

TEST_CASE("each assistant hands its conversations to one of the five departments") {
  CHECK(department_for_assistant("suporte") == "support");
  CHECK(department_for_assistant("comercial") == "commercial");
  CHECK(department_for_assistant("financeiro") == "financial");
  CHECK(department_for_assistant("cobranca") == "financial");
  CHECK(department_for_assistant("cancelamento") == "cancellation");
  CHECK(department_for_assistant("ouvidoria") == "general");
  CHECK(department_for_assistant("apresentacao") == "general");
  CHECK(department_for_assistant("Suporte") == "general");  // exact names only
  CHECK(department_for_assistant("") == "general");
}
