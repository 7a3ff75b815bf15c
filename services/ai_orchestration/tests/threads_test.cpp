#include "threads.hpp"

#include <catch2/catch.hpp>

using namespace lia::ai_orchestration;

TEST_CASE("a thread rotates when it reaches 55 messages") {
  // The handler's rule: count the message in the open thread; at the threshold the thread
  // closes and the next message counts in a fresh one.
  int in_thread = 0;
  int rotations = 0;
  for (int message = 1; message <= 120; ++message) {
    ++in_thread;
    if (rotation_due(in_thread)) {
      ++rotations;
      CHECK(in_thread == 55);
      CHECK((message == 55 || message == 110));
      in_thread = 0;
    }
  }
  CHECK(rotations == 2);
  CHECK(in_thread == 10);
  CHECK(kThreadRotation == 55);
  CHECK_FALSE(rotation_due(54));
  CHECK(rotation_due(55));
  CHECK(rotation_due(3, 3));
}

TEST_CASE("the summary of a closed thread keeps what matters") {
  SummaryInput in;
  in.assistant = Assistant::suporte;
  in.message_count = 55;
  in.previous_summary = "Resumo da conversa (55 mensagens, assistente apresentacao).";
  in.last_sentiment = Sentiment::negative;
  for (int i = 0; i < 10; ++i) {
    in.recent.push_back(
        {"id-c" + std::to_string(i), "customer", "mensagem do cliente " + std::to_string(i)});
    in.recent.push_back({"id-a" + std::to_string(i), "ai", "resposta " + std::to_string(i)});
  }
  const auto s = summarize_thread(in);
  CHECK(s.find("55 mensagens") != std::string::npos);
  CHECK(s.find("assistente suporte") != std::string::npos);
  CHECK(s.find("negativo") != std::string::npos);
  CHECK(s.find("Antes disso: Resumo da conversa") != std::string::npos);
  CHECK(s.find("mensagem do cliente 9") != std::string::npos);
  CHECK(s.find("mensagem do cliente 0") == std::string::npos);  // only the last ones
  CHECK(s.find("resposta 9") != std::string::npos);

  const auto ids = preserved_ids(in.recent, 3);
  REQUIRE(ids.size() == 3);
  CHECK(ids.front() == "id-c7");
  CHECK(ids.back() == "id-c9");
}

TEST_CASE(
    "a campaign's message in a closed thread is summarized as automatic, not as LIA's answer") {
  SummaryInput in;
  in.assistant = Assistant::cobranca;
  in.message_count = 55;
  in.recent = {{"id-s", "system", "Olá Maria, sua fatura de R$ 150,50 venceu."},
               {"id-c", "customer", "quem é?"},
               {"id-a", "ai", "Sou a LIA."}};
  const auto s = summarize_thread(in);
  CHECK(s.find("Mensagem automática enviada antes: \"Olá Maria, sua fatura de R$ 150,50 "
               "venceu.\"") != std::string::npos);
  CHECK(s.find("Últimas respostas: \"Sou a LIA.\".") != std::string::npos);
}

TEST_CASE("summaries stay bounded however long the history") {
  SummaryInput in;
  in.previous_summary = std::string(10000, 'x');
  for (int i = 0; i < 50; ++i) in.recent.push_back({"id", "customer", std::string(5000, 'y')});
  CHECK(summarize_thread(in).size() <= 4000);
}

TEST_CASE("a chain of summaries keeps the newest threads' messages, not the oldest") {
  // Five rotations, each thread's customer writing long messages that name the thread.
  std::string summary;
  for (int thread = 1; thread <= 5; ++thread) {
    SummaryInput in;
    in.message_count = 55;
    in.previous_summary = summary;
    for (int i = 0; i < 4; ++i) {
      in.recent.push_back(
          {"id", "customer", "conversa " + std::to_string(thread) + " " + std::string(200, 'z')});
    }
    summary = summarize_thread(in);
  }
  CHECK(summary.find("conversa 5") != std::string::npos);
  CHECK(summary.find("conversa 4") != std::string::npos);  // the thread before it, in full
  CHECK(summary.find("conversa 1") == std::string::npos);  // the oldest went first
  CHECK(summary.find("…") != std::string::npos);
  CHECK(summary.size() <= 4000);
}

TEST_CASE("a CPF at a summarized message's cut is hidden, not left in part") {
  SummaryInput in;
  in.assistant = Assistant::financeiro;
  in.message_count = 55;
  // The CPF straddles the 240-byte cut of a message quoted in the summary.
  in.recent.push_back(
      {"id-c", "customer", std::string(225, 'a') + " meu cpf 529.982.247-25 obrigado"});
  const auto s = summarize_thread(in);
  CHECK(s.find("529") == std::string::npos);
  CHECK(s.find("982") == std::string::npos);
}
