DELETE FROM prompt_templates
WHERE version = '1.1.0' AND created_by = 'migration' AND assistant_type IN ('financeiro', 'cancelamento');

UPDATE prompt_templates t SET status = 'active', updated_at = now()
WHERE t.version = '1.0.0' AND t.created_by = 'migration' AND t.status = 'archived'
  AND t.assistant_type IN ('financeiro', 'cancelamento')
  AND NOT EXISTS (SELECT 1 FROM prompt_templates a
                  WHERE a.assistant_type = t.assistant_type AND a.status = 'active');
