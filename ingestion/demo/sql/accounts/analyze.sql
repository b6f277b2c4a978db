analyze users, unified_accounts;
