"""Segregation of duties (seed 002/004). Only the service interface the request pipeline calls
exists today; rules, matrices and scans arrive with the SoD issue."""
