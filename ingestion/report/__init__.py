"""The launch report: one self-contained HTML page of the launch marts for stakeholders."""
