DROP TABLE collection_settings;
DROP TABLE crm_sync_configs;
DROP TABLE voice_promises;
DROP TABLE message_attempts;
DROP TABLE voice_campaign_targets;
DROP TABLE voice_campaigns;
