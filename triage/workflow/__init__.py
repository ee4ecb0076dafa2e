"""The MASH workflow: the queue, holding a referral, information requests, decisions and strategy discussions."""
