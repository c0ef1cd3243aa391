SELECT segment_id, agreement_id, scope FROM segment_agreements
