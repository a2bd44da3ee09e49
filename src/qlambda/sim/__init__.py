"""The discrete-event simulator of a hybrid classical-quantum serverless platform.

The model is the one of paper 000 (Cicconetti, IEEE TQE 2025, Sec. II-C),
driven by the platform's own scheduling policies and by traces in the format
the platform records.
"""
