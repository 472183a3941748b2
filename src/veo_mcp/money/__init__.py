"""Money: the guards (pure checks decided before anything is sent) and the create ledger (record before send)."""
