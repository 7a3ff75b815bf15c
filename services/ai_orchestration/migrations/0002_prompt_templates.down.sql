DROP TABLE prompt_templates;
