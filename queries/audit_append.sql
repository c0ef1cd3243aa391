INSERT INTO audit_log (seq, logged_at, actor, nation, role, action, outcome, address, filter_text, row_count,
                       detail, prev_hash, hash)
VALUES ($seq, $logged_at, $actor, $nation, $role, $action, $outcome, $address, $filter_text, $row_count,
        $detail, $prev_hash, $hash)
