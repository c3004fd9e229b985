-- Crypto-shredding (GB/T 39725-2020 §11.4.2.6; DMS 6.2.3): when a dataset's data key was destroyed.
ALTER TABLE datasets ADD COLUMN destroyed_at TEXT;
