"""Pages customers see: an offer's own page (its signed link) and the thank-you page a checkout returns to."""
