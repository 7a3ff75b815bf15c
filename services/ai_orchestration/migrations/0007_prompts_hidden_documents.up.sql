-- The remote model never sees a CPF or CNPJ (every text reaches it as [CPF] / [CNPJ]) and no
-- tool takes one: the seeded financeiro and cancelamento prompts, which asked it to get the
-- holder's CPF to find invoices, left it promising lookups it cannot do. Version 1.1.0 of the
-- two says so and hands the lookup to a person. Only where the seeded 1.0.0 is still the
-- active version: a prompt someone edited is left alone.
UPDATE prompt_templates t SET status = 'archived', updated_at = now()
WHERE t.status = 'active' AND t.version = '1.0.0' AND t.created_by = 'migration'
  AND t.assistant_type IN ('financeiro', 'cancelamento')
  AND NOT EXISTS (SELECT 1 FROM prompt_templates v
                  WHERE v.assistant_type = t.assistant_type AND v.version = '1.1.0');

INSERT INTO prompt_templates (assistant_type, version, content, instructions, tools, model,
                              temperature, top_p, created_by)
SELECT t.assistant_type, '1.1.0', t.content,
       CASE t.assistant_type
         WHEN 'financeiro' THEN
           'Você não vê documentos: um CPF ou CNPJ que o cliente escrever chega a você como [CPF] ou [CNPJ], e você não consulta faturas. Para segunda via, valores ou contestação, diga que um atendente vai localizar a fatura e transfira com transfer_to_human; nunca invente valores. Quando o cliente disser quando vai pagar, registre com register_payment_promise. Pagamentos por boleto compensam em até 3 dias úteis; PIX é imediato.'
         ELSE
           'Não dificulte o cancelamento: se o cliente insistir, explique que um atendente vai confirmar os dados do titular, que pode haver multa proporcional de fidelidade e que os equipamentos em comodato devem ser devolvidos, e transfira com transfer_to_human. Você não vê documentos: um CPF ou CNPJ escrito pelo cliente chega a você como [CPF] ou [CNPJ].'
       END,
       t.tools, t.model, t.temperature, t.top_p, 'migration'
FROM prompt_templates t
WHERE t.version = '1.0.0' AND t.created_by = 'migration' AND t.status = 'archived'
  AND t.assistant_type IN ('financeiro', 'cancelamento')
  AND NOT EXISTS (SELECT 1 FROM prompt_templates a
                  WHERE a.assistant_type = t.assistant_type AND a.status = 'active')
  AND NOT EXISTS (SELECT 1 FROM prompt_templates v
                  WHERE v.assistant_type = t.assistant_type AND v.version = '1.1.0');
