-- Special-disease classes an application asks to include (GB/T 39725-2020 §6.2 e), §11.1.2.3):
-- the sandbox's row filter withholds rows of any other special disease. Existing applications
-- asked for none.
ALTER TABLE applications ADD COLUMN special_diseases_json TEXT NOT NULL DEFAULT '[]';
