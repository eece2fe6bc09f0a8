# English date formats, shorter than Django's ("Dec. 3, 2026, 2:15 p.m."): the admin's
# lists show several dates per row, and Django's were wider than a laptop's screen.
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
DATE_FORMAT = "j M Y"
# The sidebar's and the rows' dates past 30 days, and a message's exact time (the `ago` and
# `stamp` filters, conversations/templatetags/chat.py): ISO order, which reads the same to
# everyone who chose English.
SHORT_DATE_FORMAT = "Y-m-d"
