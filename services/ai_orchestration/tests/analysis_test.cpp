#include "analysis.hpp"

#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <lia/domain/text.hpp>

using namespace lia::ai_orchestration;

TEST_CASE("intent routes by keyword, whatever the accents or the case") {
  struct Case {
    const char* text;
    Intent intent;
  };
  const Case cases[] = {
      {"minha internet caiu!!!", Intent::suporte},
      {"MINHA INTERNET CAIU", Intent::suporte},
      {"estou sem conexão desde ontem", Intent::suporte},
      {"Estou SEM CONEXAO", Intent::suporte},
      {"a internet está muito lenta", Intent::suporte},
      {"o wi-fi não pega no quarto", Intent::suporte},
      {"o modem está com a luz vermelha", Intent::suporte},
      {"roteador piscando sem sinal", Intent::suporte},
      {"Não está funcionando", Intent::suporte},
      {"a net não tá funcionando de novo", Intent::suporte},
      {"quais são os planos?", Intent::comercial},
      {"Quero contratar fibra", Intent::comercial},
      {"quanto custa o plano de 500 mega?", Intent::comercial},
      {"quero fazer um upgrade de velocidade", Intent::comercial},
      {"Qual o PREÇO?", Intent::comercial},
      {"segunda via do boleto", Intent::financeiro},
      {"preciso da 2ª via da fatura", Intent::financeiro},
      {"posso pagar com pix?", Intent::financeiro},
      {"fui cobrado duas vezes, débito indevido", Intent::financeiro},
      {"QUERO CANCELAR", Intent::cancelamento},
      {"quero cancelar porque a internet caiu de novo", Intent::cancelamento},
      {"desejo encerrar contrato", Intent::cancelamento},
      {"vou desistir do serviço", Intent::cancelamento},
      {"quero fazer uma reclamação", Intent::ouvidoria},
      {"isso é um absurdo, vou na ouvidoria", Intent::ouvidoria},
      {"vou abrir reclamação na Anatel", Intent::ouvidoria},
      {"quero falar com um atendente", Intent::human},
      {"obrigado!", Intent::thanks},
      {"tchau", Intent::goodbye},
      {"Olá, bom dia", Intent::greeting},
      {"hmm", Intent::none},
      // Plans asked about with "internet" in them, and the greeting's menu words.
      {"quanto é a internet de 500 mega?", Intent::comercial},
      {"tem internet fibra na minha rua?", Intent::comercial},
      {"qual o valor da internet?", Intent::comercial},
      {"quero internet na minha casa", Intent::comercial},
      // A fault told with a plan's words is still support's.
      {"minha internet fibra está ruim", Intent::suporte},
      {"a velocidade da internet está baixa", Intent::suporte},
      {"a internet da minha sala comercial está lenta", Intent::suporte},
      {"vendas", Intent::comercial},
      {"Comercial", Intent::comercial},
      {"suporte", Intent::suporte},
      {"não consigo conectar", Intent::suporte},
      {"quero falar com o financeiro", Intent::financeiro},
      {"FINANCEIRO", Intent::financeiro},
      {"qual o valor da mensalidade?", Intent::financeiro},
      // Ending the chat is not ending the contract.
      {"obrigado, pode encerrar o atendimento", Intent::thanks},
      {"quero encerrar meu contrato", Intent::cancelamento},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(analyze(c.text).intent == c.intent);
  }
}

TEST_CASE("irritation reads negative, and no problem at all does not") {
  CHECK(analyze("estou muito irritado").sentiment.label == Sentiment::negative);
  for (const char* text : {"sem problemas", "nenhum problema, obrigado", "sem problema"}) {
    INFO(text);
    CHECK(analyze(text).sentiment.label != Sentiment::negative);
  }
  CHECK(analyze("tive um problema").sentiment.label == Sentiment::negative);
}

TEST_CASE("a CPF or CNPJ written in the text is seen, and taking a cancellation back too") {
  for (const char* text : {"meu cpf é 529.982.247-25", "52998224725", "CNPJ 11.222.333/0001-81",
                           "cpf 529982247-25 cep 01310-100", "cpf529.982.247,25"}) {
    INFO(text);
    CHECK(analyze(text).sends_document);
  }
  for (const char* text : {"529.982.247-26", "meu telefone é 11 98765-4321", "12345678901",
                           "paguei R$ 1.234,56 no dia 10/12/2026", "a fatura de R$ 529.982.247,25?",
                           "foram 12,34,56,78,909 reais", "cep 01310-100, casa 25"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).sends_document);
  }
  for (const char* text : {"não quero mais cancelar", "desisti de cancelar", "mudei de ideia"}) {
    INFO(text);
    const auto a = analyze(text);
    CHECK(a.keeps_service);
    CHECK(a.department_intent != Intent::cancelamento);
  }
  CHECK_FALSE(analyze("quero cancelar").keeps_service);
  CHECK_FALSE(analyze("quero continuar com o cancelamento").keeps_service);
  CHECK(analyze("vou continuar com vocês").keeps_service);
}

TEST_CASE("a negated request or a third party's cancel is no cancellation or complaint") {
  struct Case {
    const char* text;
    Intent intent;
  };
  const Case cases[] = {
      {"não quero cancelar, só quero que funcione", Intent::none},
      {"o técnico cancelou a visita", Intent::suporte},
      {"não quero mais esperar", Intent::none},
      {"Não tenho do que reclamar, obrigado", Intent::thanks},
      {"Não tenho interesse em cancelar", Intent::none},
      {"não estou querendo cancelar", Intent::none},
      {"não vou querer cancelar", Intent::none},
      {"nem pensar em cancelar", Intent::none},
      {"não tenho intenção de cancelar", Intent::none},
      {"não to pensando em cancelar", Intent::none},
      // still requests
      {"quero cancelar meu plano", Intent::cancelamento},
      {"Não funciona, quero cancelar", Intent::cancelamento},
      {"a internet não funciona quero cancelar", Intent::cancelamento},
      {"não sei se quero cancelar", Intent::cancelamento},
      {"cancela minha assinatura", Intent::cancelamento},
      {"não quero mais a internet de vocês", Intent::cancelamento},
      {"não estou satisfeito, quero cancelar", Intent::cancelamento},
      {"não estou conseguindo usar quero cancelar", Intent::cancelamento},
      {"não tenho mais interesse no plano quero cancelar", Intent::cancelamento},
      {"Não tenho mais interesse quero cancelar", Intent::cancelamento},
      {"Não tenho mais interesse\nQuero cancelar", Intent::cancelamento},
      {"não tô querendo mais quero cancelar", Intent::cancelamento},
      {"não tenho do que reclamar do técnico, mas quero fazer uma reclamação da fatura",
       Intent::ouvidoria},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(analyze(c.text).intent == c.intent);
  }
}

TEST_CASE("a line break ends a clause as punctuation does, and a second wish its negation") {
  for (const char* text : {"Não\nQuero cancelar", "Não\r\nquero cancelar o plano",
                           "não quero mais quero cancelar", "não preciso mais quero cancelar"}) {
    INFO(text);
    const auto a = analyze(text);
    CHECK(a.cancel_request);
    CHECK(a.intent == Intent::cancelamento);
  }
  CHECK(analyze("Não\nQuero falar com atendente").asks_for_human);
  // Any other line break is a space: the clause goes on across it.
  CHECK(analyze("vou pagar\ndia 15").payment_day == 15);
  CHECK_FALSE(analyze("quero cancelar\na visita técnica").cancel_request);
  CHECK_FALSE(analyze("Eu não\nquero cancelar").cancel_request);
  CHECK_FALSE(analyze("não quero\ncancelar").cancel_request);
  CHECK_FALSE(analyze("não queria precisar cancelar").cancel_request);
  CHECK_FALSE(analyze("não quero falar com atendente").asks_for_human);
  // One wish, negated: still taken back.
  for (const char* text :
       {"não quero cancelar", "não quero mais cancelar", "n quero cancelar\nobg"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).cancel_request);
  }
}

TEST_CASE("a message is read up to its first 4 KiB, and a document anywhere in it is seen") {
  const std::string filler(5000, ' ');
  const auto late = analyze("bom dia" + filler + "quero cancelar");
  CHECK_FALSE(late.cancel_request);
  CHECK(late.greeting);
  CHECK(analyze("quero cancelar" + filler).cancel_request);
  CHECK(analyze("segue" + filler + "cpf 529.982.247-25").sends_document);
  // A long run of promises, the costliest shape, is still read (its start).
  std::string promises;
  while (promises.size() < 65536) promises += "pago ";
  CHECK_FALSE(analyze(promises).payment_day);
}

TEST_CASE("a request to cancel the service decides over the trouble told with it") {
  struct Case {
    const char* text;
    Intent intent;
  };
  const Case cases[] = {
      {"A internet caiu de novo, estou sem conexão, quero cancelar", Intent::cancelamento},
      {"internet lenta, wifi caindo, roteador piscando, vou cancelar", Intent::cancelamento},
      {"sem internet há 3 dias, quero trocar de operadora", Intent::cancelamento},
      // "não dá" is the verb, not a negation of the request
      {"Não dá mais quero cancelar", Intent::cancelamento},
      {"não dá pra cancelar pelo app?", Intent::cancelamento},
      // not the service, or taken back: the trouble decides
      {"a internet caiu, sem conexão e sem sinal, mas não quero cancelar", Intent::suporte},
      {"quero cancelar a visita técnica, a internet voltou sem sinal", Intent::suporte},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(analyze(c.text).intent == c.intent);
  }
}

TEST_CASE("topics name what the message is about") {
  auto a = analyze("Minha internet caiu e o roteador está com luz vermelha");
  CHECK(a.department_intent == Intent::suporte);
  CHECK(std::find(a.topics.begin(), a.topics.end(), "sem_conexao") != a.topics.end());
  CHECK(std::find(a.topics.begin(), a.topics.end(), "equipamento") != a.topics.end());
  auto b = analyze("segunda via do boleto");
  CHECK(std::find(b.topics.begin(), b.topics.end(), "segunda_via") != b.topics.end());
}

TEST_CASE("asking for a person is recognised in its usual forms") {
  for (const char* text :
       {"quero falar com um atendente", "ATENDENTE", "tem algum humano ai?",
        "quero falar com uma pessoa", "preciso falar com alguém", "me passa pro atendimento humano",
        "quero falar com um ser humano", "me passa pra alguém", "chama alguém aí",
        "quero uma pessoa", "preciso de um ser humano"}) {
    INFO(text);
    CHECK(analyze(text).asks_for_human);
  }
  CHECK_FALSE(analyze("minha internet caiu").asks_for_human);
  // A department request for a person keeps its department intent.
  auto a = analyze("quero falar com um atendente sobre meu boleto");
  CHECK(a.asks_for_human);
  CHECK(a.department_intent == Intent::financeiro);
}

TEST_CASE("a carrier, a legal entity, a process or a refused person is no request for one") {
  for (const char* text :
       {"quero trocar de operadora", "plano para pessoa jurídica",
        "não precisa de atendente, só quero a segunda via", "não quero falar com atendente"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).asks_for_human);
  }
  // "uma pessoa" mentioned, not asked for.
  for (const char* text : {"Falei com uma pessoa ontem e ela disse que o técnico viria hoje",
                           "Qual o melhor plano para uma pessoa que trabalha em home office?",
                           "tem uma pessoa aqui usando meu wifi", "não quero falar com uma pessoa",
                           "o técnico vai ser humano ou robô?", "uma pessoa atendeu e não resolveu",
                           "Manda uma pessoa aqui ver o cabo", "Amanhã passa uma pessoa aqui?",
                           "Quero uma pessoa aqui pra instalar o ponto", "não quero uma pessoa"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).asks_for_human);
  }
  for (const char* text :
       {"falar com uma pessoa", "quero falar com o operador", "não consigo falar com um atendente",
        "me passa pra uma pessoa", "preciso de uma pessoa", "quero conversar com alguma pessoa",
        "quero falar agora com uma pessoa", "quero falar urgente com uma pessoa",
        "me coloca com uma pessoa", "posso falar direto com uma pessoa?"}) {
    INFO(text);
    CHECK(analyze(text).asks_for_human);
  }
  auto process = analyze("Qual o processo para mudar de plano?");
  CHECK_FALSE(process.legal_threat);
  CHECK(process.urgency == Urgency::normal);
  for (const char* text : {"vou abrir um processo", "procon",
                           "vou entrar com um processo contra "
                           "voces"}) {
    INFO(text);
    CHECK(analyze(text).legal_threat);
  }
}

TEST_CASE("sentiment reads positive, neutral and negative with a score in -1..1") {
  auto pos = score_sentiment("muito obrigado, o atendimento foi otimo");
  CHECK(pos.label == Sentiment::positive);
  CHECK(pos.score > 0.3);
  CHECK(pos.score <= 1.0);

  auto neutral = score_sentiment("qual o horario de atendimento");
  CHECK(neutral.label == Sentiment::neutral);
  CHECK(neutral.score == Approx(0.0));

  auto neg = score_sentiment("que servico pessimo, um absurdo");
  CHECK(neg.label == Sentiment::negative);
  CHECK(neg.score < -0.5);
  CHECK(neg.score >= -1.0);

  // Greetings are not praise.
  CHECK(score_sentiment("boa tarde").label == Sentiment::neutral);
}

TEST_CASE("negations flip the sentiment of the next words") {
  CHECK(score_sentiment("nao gostei").label == Sentiment::negative);
  CHECK(score_sentiment("gostei").label == Sentiment::positive);
  CHECK(score_sentiment("nao foi bom").label == Sentiment::negative);
  CHECK(score_sentiment("nao esta ruim").score > 0);
  CHECK(score_sentiment("nunca funcionou").label == Sentiment::negative);
  CHECK(analyze("Não está funcionando").sentiment.label == Sentiment::negative);
  // A "não" far from "reclamar" that still says there is no complaint.
  CHECK(analyze("Não tenho do que reclamar").sentiment.label == Sentiment::positive);
  CHECK(analyze("nada a reclamar, obrigado").sentiment.label == Sentiment::positive);
  // The accents of the customer's text fold away first.
  CHECK(analyze("Não gostei do atendimento").sentiment.label == Sentiment::negative);
}

TEST_CASE("thanks are never flipped and a comma ends a negation") {
  CHECK(score_sentiment("nao, obrigado").label != Sentiment::negative);
  CHECK(analyze("Não, obrigado").sentiment.label != Sentiment::negative);
  CHECK(score_sentiment("nao precisa, valeu").label != Sentiment::negative);
  CHECK(score_sentiment("nao obrigado").label != Sentiment::negative);
  CHECK(score_sentiment("nao, gostei muito").label == Sentiment::positive);
  // A negation still reaches the word right after it.
  CHECK(score_sentiment("nao gostei").label == Sentiment::negative);
}

TEST_CASE("urgency: normal, high for urgent words or several signals, urgent for many") {
  CHECK(analyze("qual o valor do plano").urgency == Urgency::normal);
  CHECK(analyze("minha internet caiu!!!").urgency == Urgency::normal);
  CHECK(analyze("QUERO CANCELAR").urgency == Urgency::normal);
  CHECK(analyze("preciso urgente da segunda via").urgency == Urgency::high);
  CHECK(analyze("preciso disso hoje, o quanto antes").urgency == Urgency::high);
  CHECK(analyze("SEM INTERNET AGORA!!!").urgency == Urgency::high);
  CHECK(analyze("URGENTE!!! PRECISO DA INTERNET AGORA, TRABALHO DE HOME OFFICE HOJE!!!").urgency ==
        Urgency::urgent);
}

TEST_CASE("repeated complaints raise the urgency") {
  const char* text = "continua sem internet";
  CHECK(analyze(text, {.prior_negative_streak = 0}).urgency == Urgency::normal);
  CHECK(analyze("caiu de novo", {.prior_negative_streak = 0}).repeated_complaint);
  CHECK(analyze("caiu de novo, hoje", {.prior_negative_streak = 0}).urgency == Urgency::high);
  CHECK(analyze("a internet caiu", {.prior_negative_streak = 4}).urgency == Urgency::high);
  // A streak only counts when this message reads negative too.
  CHECK(analyze("obrigado", {.prior_negative_streak = 6}).urgency == Urgency::normal);
}

TEST_CASE("a word inside a repeated complaint does not count again for urgency") {
  CHECK(analyze("Estou sem conexão até agora").urgency == Urgency::normal);
  CHECK(analyze("Estou sem conexão até agora").repeated_complaint);
  // "agora" alone, or besides the phrase, still counts.
  CHECK(analyze("sem conexao de novo, preciso agora").urgency == Urgency::high);
  CHECK(analyze("ate agora nada, preciso dela agora").urgency == Urgency::high);
}

TEST_CASE("insults and legal threats are flagged") {
  CHECK(analyze("voces sao uns incompetentes").insult);
  CHECK(analyze("bando de LADRÕES").insult);
  CHECK_FALSE(analyze("a internet esta lenta").insult);
  CHECK(analyze("vou no PROCON").legal_threat);
  CHECK(analyze("vou reclamar na anatel").legal_threat);
  CHECK_FALSE(analyze("quero a segunda via").legal_threat);
}

TEST_CASE("a CEP is found in its written forms and not inside other numbers") {
  CHECK(find_cep("meu cep é 01310-100") == "01310100");
  CHECK(find_cep("CEP: 01.310-100, ap 12") == "01310100");
  CHECK(find_cep("cep 20040002") == "20040002");
  CHECK(find_cep("o CEP 13083-970.") == "13083970");
  CHECK_FALSE(find_cep("meu telefone 11987654321").has_value());
  // 8 bare digits need the word CEP, or to be the whole answer (to "qual é o seu CEP?").
  CHECK_FALSE(find_cep("pedido 20040002").has_value());
  CHECK(find_cep(" 20040002 ", /*alone_ok=*/true) == "20040002");
  CHECK_FALSE(find_cep(" 20040002 ").has_value());
  CHECK_FALSE(find_cep("123456-789").has_value());
  CHECK_FALSE(find_cep("01310-1000").has_value());
  CHECK_FALSE(find_cep("").has_value());
}

TEST_CASE("a payment promise names its day") {
  CHECK(find_payment_day("vou pagar dia 15") == 15);
  CHECK(find_payment_day("dia 20 eu pago") == 20);
  CHECK_FALSE(find_payment_day("vou pagar dia 45").has_value());
  CHECK_FALSE(find_payment_day("a internet caiu dia 15").has_value());
  CHECK(analyze("Vou pagar DIA 10, pode ser?").payment_day == 10);
}

TEST_CASE("a payment promise names the day's month when it is said") {
  const auto when = [](std::string_view text, bool asked = false) {
    return find_payment_when(lia::domain::fold(text), asked);
  };
  const auto next = when("consigo pagar no dia 5 do mês que vem");
  REQUIRE(next);
  CHECK(next->day == 5);
  CHECK(next->next_month);
  CHECK(next->dated());
  CHECK_FALSE(find_payment_day("consigo pagar no dia 5 do mes que vem").has_value());
  for (const auto& [text, day, month, year] :
       {std::tuple{"vou pagar dia 10/06", 10, 6, 0},
        std::tuple{"vou pagar dia 10/06/2027", 10, 6, 2027},
        std::tuple{"pago no dia 3/1/27", 3, 1, 2027},
        std::tuple{"vou pagar dia 10 de janeiro", 10, 1, 0},
        std::tuple{"vou pagar dia 10 de janeiro de 2028", 10, 1, 2028},
        std::tuple{"consigo pagar dia 2 de março", 2, 3, 0}}) {
    INFO(text);
    const auto w = when(text);
    REQUIRE(w);
    CHECK(w->day == day);
    CHECK(w->month == month);
    CHECK(w->year == year);
    CHECK_FALSE(w->next_month);
  }
  // The day asked, a date alone is the answer; no month after the slash, no date.
  const auto answer = when("15/12", true);
  REQUIRE(answer);
  CHECK(answer->month == 12);
  CHECK_FALSE(when("vou pagar 15/13").has_value());
  CHECK_FALSE(when("vou pagar 15").has_value());
  CHECK(when("vou pagar dia 15/13")->month == 0);  // the day, its month unread
  CHECK_FALSE(when("paguei dia 10/06").has_value());
  CHECK_FALSE(when("vou pagar 1/2 da fatura").has_value());  // a fraction
  // Near the verb, a date without "dia" is a fraction, an instalment or a bill's as often as
  // the day: none.
  for (const char* text : {"vou pagar 1/2 agora", "vou pagar a fatura 10/11", "vou pagar a 3/12",
                           "consigo pagar em 2/3 dias"}) {
    INFO(text);
    CHECK_FALSE(when(text).has_value());
  }
  CHECK(when("pago 1/2 hoje e 1/2 dia 20")->in_days == 0);
  CHECK(when("vou pagar a 3/12 dia 15")->day == 15);
  CHECK(when("vou pagar tudo até 10/11 hoje")->in_days == 0);
  // A day word before a slash is still the day.
  CHECK(when("vou pagar amanhã/depois")->in_days == 1);
  CHECK(when("vou pagar sexta/feira")->weekday == 5);
  CHECK(when("vou pagar a fatura 10/11 amanha")->in_days == 1);
  CHECK(when("vou pagar a parcela 3/12 dia 15")->month == 0);
  CHECK(when("1/2", true)->month == 2);  // as the answer alone, a date
  // Part of the debt, with a day or not, is a deal for a person to agree.
  for (const char* text : {"posso pagar metade agora e metade dia 20?", "posso dar uma entrada",
                           "consigo pagar uma parte agora", "pago parte agora e parte dia 20",
                           "pagarei metade dia 10", "só tenho metade, pago dia 10"}) {
    INFO(text);
    const auto a = analyze(text);
    CHECK(a.partial_payment);
    CHECK(a.negotiates);
  }
  for (const char* text :
       {"vou pagar dia 20", "a metade da fatura é multa", "já paguei metade",
        "vou dar entrada no seguro desemprego e pago dia 20",
        "paguei metade dia 5, o resto pago dia 20", "vou pagar dia 10, já tenho metade guardada",
        "só metade dos canais funciona", "a melhor parte agora é o wifi novo",
        "não quero pagar metade, vou pagar tudo dia 20",
        "vou pagar dia 20 quando cair a outra metade do meu salário",
        "vou pagar dia 10, metade no pix e metade no cartão"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).partial_payment);
  }
}

TEST_CASE("a payment made or refused is no payment promise") {
  CHECK(find_payment_day("vou pagar dia 10") == 10);
  CHECK(find_payment_day("consigo pagar no dia 15") == 15);
  CHECK(find_payment_day("pago dia 20") == 20);
  CHECK(find_payment_day("nao consigo agora, mas pago dia 25") == 25);
  CHECK(find_payment_day("paguei dia 5, vou pagar o resto no dia 20") == 20);
  for (const char* text :
       {"fiz o pagamento dia 10 e continua bloqueado", "não vou conseguir pagar dia 10",
        "nao consigo pagar dia 10", "o boleto foi pago dia 10", "fiz o deposito dia 10",
        "paguei dia 10", "vou pagar, a internet caiu dia 10"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).payment_day.has_value());
  }
}

TEST_CASE("analysis never fails on odd input") {
  for (const char* text : {"", "   ", "!!!!!!", "😡😡😡", "\xff\xfe broken utf8", "1234567890"}) {
    INFO(text);
    auto a = analyze(text);
    CHECK(a.sentiment.score >= -1.0);
    CHECK(a.sentiment.score <= 1.0);
  }
  std::string long_text(20000, 'a');
  CHECK(analyze(long_text).intent == Intent::none);
}

TEST_CASE("hoje and agora count once and capitals alone raise no urgency") {
  CHECK(analyze("Hoje de manhã a internet caiu e agora voltou").urgency == Urgency::normal);
  CHECK(analyze("preciso disso hoje, agora").urgency == Urgency::normal);
  CHECK(analyze("BOA TARDE, MINHA INTERNET CAIU HOJE").urgency == Urgency::normal);
  // Capitals still add to other signals.
  CHECK(analyze("SEM INTERNET AGORA!!! UM ABSURDO!!!").urgency == Urgency::urgent);
  CHECK(analyze("sem internet agora!!! um absurdo!!!").urgency == Urgency::high);
}

TEST_CASE("a refused person, or one only mentioned, is no request for one") {
  for (const char* text :
       {"não precisa chamar atendente, só me manda o boleto", "sem atendente por favor",
        "não vou ter nenhum atendente", "o atendente de ontem disse que o técnico vinha hoje",
        "a atendente foi muito educada", "quero reclamar do atendente"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).asks_for_human);
  }
  for (const char* text :
       {"chama um atendente", "cadê o atendente?", "Atendente, por favor", "HUMANO",
        "me passa pro gerente", "não quero falar com robô", "quero ser atendido por uma pessoa",
        "me transfere pra alguém", "não consigo falar com um atendente"}) {
    INFO(text);
    CHECK(analyze(text).asks_for_human);
  }
  CHECK_FALSE(analyze("não quero ser atendido por uma pessoa").asks_for_human);
}

TEST_CASE("a negation before a positive phrase reads negative") {
  for (const char* text : {"não deu certo", "a internet não está muito boa",
                           "o sinal nao ta muito bom hoje", "nada resolvido até agora"}) {
    INFO(text);
    CHECK(analyze(text).sentiment.label == Sentiment::negative);
  }
  CHECK(analyze("deu certo").sentiment.label == Sentiment::positive);
  CHECK(analyze("a internet está muito boa").sentiment.label == Sentiment::positive);
  // Phrases holding their own negation stay as they are.
  CHECK(analyze("nada a reclamar").sentiment.label == Sentiment::positive);
}

TEST_CASE("cancelling something else, or taking the cancelling back, is no cancellation") {
  struct Case {
    const char* text;
    Intent intent;
  };
  const Case cases[] = {
      {"quero cancelar o débito automático", Intent::financeiro},
      {"preciso cancelar a visita técnica de amanhã", Intent::suporte},
      {"quero cancelar o boleto que veio duplicado", Intent::financeiro},
      {"desisti de cancelar", Intent::none},
      {"pode desconsiderar o cancelamento", Intent::none},
      {"vou desistir do cancelamento", Intent::none},
      // still cancellations
      {"quero cancelar o contrato", Intent::cancelamento},
      {"quero cancelar minha internet", Intent::cancelamento},
      {"vou desistir do serviço", Intent::cancelamento},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(analyze(c.text).intent == c.intent);
  }
}

TEST_CASE("a wish for more speed in a slowness complaint is support, not an upgrade") {
  auto slow = analyze("preciso de mais velocidade, a internet ta lenta");
  CHECK(slow.intent == Intent::suporte);
  CHECK(std::find(slow.topics.begin(), slow.topics.end(), "upgrade") == slow.topics.end());
  CHECK(analyze("quero mais velocidade").intent == Intent::comercial);
  CHECK(analyze("quero mais velocidade na minha conexão").intent == Intent::comercial);
}

TEST_CASE("a question about paying or a habit is no payment promise") {
  for (const char* text :
       {"quanto fica pra pagar dia 20?", "eu sempre pago dia 10, pq veio juros?",
        "posso pagar dia 15?", "pago todo mês no dia 10", "por que vou pagar dia 10 com juros"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).payment_day.has_value());
  }
  CHECK(analyze("vou pagar toda a fatura dia 10").payment_day == 10);
  CHECK(analyze("Vou pagar dia 10, tudo bem?").payment_day == 10);
}

TEST_CASE("slang for no connection, insults, Reclame Aqui, greetings and thanks are read") {
  for (const char* text : {"to sem net", "nao ta conectando", "a net caiu"}) {
    INFO(text);
    auto a = analyze(text);
    CHECK(a.intent == Intent::suporte);
    CHECK(std::find(a.topics.begin(), a.topics.end(), "sem_conexao") != a.topics.end());
  }
  for (const char* text : {"essa internet é uma bosta", "pqp", "vsf", "vtnc"}) {
    INFO(text);
    auto a = analyze(text);
    CHECK(a.insult);
    CHECK(a.sentiment.label == Sentiment::negative);
  }
  auto ra = analyze("vou colocar no Reclame Aqui");
  CHECK(ra.intent == Intent::ouvidoria);
  CHECK(ra.legal_threat);
  CHECK(analyze("oii").intent == Intent::greeting);
  CHECK(analyze("obg").intent == Intent::thanks);
  CHECK(analyze("vlw").intent == Intent::thanks);
  CHECK(analyze("vlw").sentiment.label == Sentiment::positive);
}

TEST_CASE("WhatsApp spellings of nao, and a nao after the request, take it back") {
  for (const char* text :
       {"n quero cancelar", "ñ quero cancelar", "num quero cancelar",
        "quero cancelar não, vou ficar", "quero cancelar nao", "quero cancelar o plano não"}) {
    INFO(text);
    const auto a = analyze(text);
    CHECK_FALSE(a.cancel_request);
    CHECK(a.department_intent != Intent::cancelamento);
  }
  for (const char* text : {"n quero falar com atendente", "num quero falar com atendente",
                           "ñ preciso de atendente", "quero falar com atendente não"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).asks_for_human);
  }
  // "num" is also "em um", and a "não" opening the next clause is that clause's.
  for (const char* text :
       {"moro num apartamento, quero cancelar", "to num plano caro quero cancelar",
        "quero cancelar, não aguento mais", "quero cancelar nao aguento mais essa internet"}) {
    INFO(text);
    CHECK(analyze(text).cancel_request);
  }
  CHECK(analyze("n quero cancelar").keeps_service);
  CHECK(analyze("quero falar com um atendente, não aguento mais").asks_for_human);
}

TEST_CASE("cancelling a charge, a fee, a fine or the interest is no cancellation") {
  struct Case {
    const char* text;
    Intent intent;
  };
  const Case cases[] = {
      {"quero cancelar essa cobrança", Intent::financeiro},
      {"quero cancelar os juros da fatura", Intent::financeiro},
      {"cancela essa multa", Intent::financeiro},  // a fine to take off: a charge disputed
      {"tira essa multa da minha fatura", Intent::financeiro},
      {"quero o cancelamento da multa", Intent::financeiro},
      {"tire essa multa", Intent::financeiro},
      {"cancela essas multas", Intent::financeiro},
      {"pode estornar esta multa?", Intent::financeiro},
      {"quero cancelar a taxa de instalação", Intent::comercial},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto a = analyze(c.text);
    CHECK(a.intent == c.intent);
    CHECK_FALSE(a.cancel_request);
  }
  CHECK(analyze("quero cancelar, qual a multa?").cancel_request);
  CHECK(analyze("quero cancelar sem multa").cancel_request);
  // The fine for cancelling, asked about, is the cancellation desk's.
  for (const char* text : {"tem multa se eu cancelar?", "qual o valor da multa?",
                           "quero cancelar, qual a multa?", "cancelar tem multa?"}) {
    INFO(text);
    CHECK(analyze(text).intent == Intent::cancelamento);
  }
}

TEST_CASE("thanks or a goodbye followed by the trouble going on is not courtesy") {
  for (const char* text :
       {"obrigado, mas não resolveu", "valeu, mas continua igual", "obrigada, mas ainda não voltou",
        "tchau, mas continua igual", "a moça falou que ia me ligar e até agora nada",
        "o técnico falou que vinha hoje"}) {
    INFO(text);
    const auto a = analyze(text);
    CHECK(a.intent != Intent::thanks);
    CHECK(a.intent != Intent::goodbye);
  }
  for (const char* text : {"obrigado", "obrigado, mas não precisa", "Não, obrigado",
                           "valeu, resolveu", "obrigado, até mais"}) {
    INFO(text);
    CHECK(analyze(text).intent == Intent::thanks);
  }
  for (const char* text : {"falou", "falou!", "tchau", "falou então", "até mais"}) {
    INFO(text);
    CHECK(analyze(text).intent == Intent::goodbye);
  }
}

TEST_CASE("less speed than the plan's is a fault, not a question about plans") {
  struct Case {
    const char* text;
    Intent intent;
  };
  const Case cases[] = {
      {"meu plano é de 300 mega mas só chega 50", Intent::suporte},
      {"a velocidade não chega nem na metade do plano", Intent::suporte},
      {"contratei 500 mega e não passa de 100", Intent::suporte},
      // no speed named: not a slowness
      {"o boleto só chega dia 10", Intent::financeiro},
      {"a fatura do plano não chega", Intent::financeiro},
      {"quanto custa o plano de 500 mega?", Intent::comercial},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(analyze(c.text).intent == c.intent);
  }
  const auto a = analyze("meu plano é de 300 mega mas só chega 50");
  CHECK(std::find(a.topics.begin(), a.topics.end(), "lentidao") != a.topics.end());
}

TEST_CASE("after cobranca asked for the day, the day alone or a plain answer is the promise") {
  for (const auto& [text, day] :
       std::vector<std::pair<const char*, int>>{{"dia 15", 15},
                                                {"consigo dia 20", 20},
                                                {"no dia 5", 5},
                                                {"pode ser dia 25", 25},
                                                {"vou fazer o pagamento dia 12", 12},
                                                {"faço o pix dia 10", 10}}) {
    INFO(text);
    CHECK(find_payment_day(lia::domain::fold(text), true) == day);
    CHECK(analyze(text, {.payment_day_asked = true}).payment_day == day);
  }
  // Without the question, only a verb that promises: a day alone may be another subject's.
  CHECK(find_payment_day("vou fazer o pagamento dia 12") == 12);
  CHECK(find_payment_day("faco o pix dia 10") == 10);
  CHECK_FALSE(find_payment_day("dia 15").has_value());
  CHECK_FALSE(find_payment_day("consigo dia 20").has_value());
  // The same rules: a valid day, no negation, no question, no habit, no payment made.
  for (const char* text :
       {"dia 45", "dia 15?", "não consigo dia 20", "fiz o pix dia 10", "fiz o pagamento dia 10",
        "a internet caiu dia 15", "faço o pix todo mês no dia 10", "consigo ver a fatura do dia 20",
        "n consigo dia 20"}) {
    INFO(text);
    CHECK_FALSE(find_payment_day(lia::domain::fold(text), true).has_value());
  }
}

TEST_CASE("closing the account or switching the internet off is a cancellation, a reboot is not") {
  struct Case {
    const char* text;
    Intent intent;
  };
  const Case cases[] = {
      {"quero encerrar minha conta", Intent::cancelamento},
      {"quero desligar minha internet", Intent::cancelamento},
      {"quero tirar a internet", Intent::cancelamento},
      {"quero desativar o serviço", Intent::cancelamento},
      {"quero desativar minha internet", Intent::cancelamento},
      // support's steps
      {"já desliguei o modem e liguei de novo", Intent::suporte},
      {"desliguei o roteador e nada", Intent::suporte},
      {"vou desligar o roteador da tomada", Intent::suporte},
      {"preciso desligar o roteador?", Intent::suporte},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(analyze(c.text).intent == c.intent);
  }
  CHECK(analyze("quero encerrar minha conta").cancel_request);
  CHECK_FALSE(analyze("não quero desligar minha internet").cancel_request);
  CHECK_FALSE(analyze("n quero desativar o serviço").cancel_request);
}

TEST_CASE("WhatsApp's n before a number is número, not não, and continua assim is praise") {
  // "n 123": a document or flat number, so the promise after it stands.
  CHECK(analyze("meu cpf n 123 vou pagar dia 10").payment_day == 10);
  CHECK(analyze("n vou pagar dia 10").payment_day == std::nullopt);
  CHECK(analyze("obrigada, continua assim").intent == Intent::thanks);
  CHECK(analyze("obrigado, mas continua sem internet").intent != Intent::thanks);
  // The plan of a due date or of a payment is no change of internet plan.
  CHECK(analyze("quero mudar o plano de data de vencimento").intent == Intent::financeiro);
  CHECK(analyze("quero mudar meu plano").intent == Intent::comercial);
}

TEST_CASE("cancelling an installation, a change or a card is no cancellation of the service") {
  for (const char* text :
       {"quero cancelar a instalação", "quero cancelar o upgrade",
        "cancela a mudança de plano que pedi", "quero cancelar o cartão cadastrado"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).cancel_request);
  }
  for (const char* text : {"quero meu plano cancelado", "quero minha internet cancelada",
                           "desativa minha internet", "quero dar baixa na internet"}) {
    INFO(text);
    const auto a = analyze(text);
    CHECK(a.intent == Intent::cancelamento);
    CHECK(a.cancel_request);
  }
}

TEST_CASE("being served, told of, is no request for a person, and asked for it is") {
  for (const char* text : {"já fui atendido por um atendente ontem e não resolveu",
                           "o atendimento humano de vocês é péssimo"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).asks_for_human);
  }
  for (const char* text : {"me passa pro atendimento humano", "atendimento humano, por favor",
                           "quero ser atendido por um humano", "ATENDIMENTO HUMANO"}) {
    INFO(text);
    CHECK(analyze(text).asks_for_human);
  }
}

TEST_CASE("a stop of collection messages for good is told from other stops") {
  for (const char* text :
       {"parem de me mandar mensagem", "não quero mais receber cobrança",
        "não me mande mais mensagens", "não me mandem mais mensagens",
        "parem de me mandar mensagem no whatsapp", "não quero mais receber mensagens por aqui",
        "não quero mais receber essas mensagens", "parem de mandar essas mensagens",
        "parem de me mandar mensagem a qualquer horário", "me tira da lista",
        "não quero mais receber cobrança de vocês", "parem de me mandar cobrança por favor",
        "não me mandem mais cobranças aqui", "parem de mandar mensagem, vou pagar no sábado",
        "me tirem da lista de cobrança", "não me mande mais sms"}) {
    INFO(text);
    CHECK(analyze(text).stop_messages);
  }
  for (const char* text :
       {"me tira da lista do serasa", "quero que me tirem da lista de inadimplentes",
        "não quero mais receber boleto em papel, só por email", "parem de me ligar",
        "para de mandar mensagem às 7 da manhã, manda depois das 9",
        "parem de me cobrar juros abusivos", "parem de me cobrar o que eu já paguei",
        "não quero receber cobrança duplicada", "não quero mais receber cobrança desse valor",
        "parem de mandar cobrança errada", "para de mandar o boleto no whats",
        "parem de me mandar mensagem em horário de trabalho",
        "parem de mandar mensagem de promoção, quero cancelar",
        "não quero mais receber o desconto? como assim"}) {
    INFO(text);
    CHECK_FALSE(analyze(text).stop_messages);
  }
}
