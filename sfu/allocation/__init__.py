"""What each subscriber gets: simulcast/SVC/temporal layer choice, active speaker and last-N."""
