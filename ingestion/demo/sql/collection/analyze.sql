analyze collection_items;
