DROP TABLE sales_leads;
DROP TABLE complaints;
DROP TABLE registration_requests;
DROP TABLE supervisor_actions;
DROP TABLE alerts;
