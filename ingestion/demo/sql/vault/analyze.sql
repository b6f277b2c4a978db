analyze vault_items;
