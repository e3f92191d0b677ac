# Django 5.2's fr_CA formats write "H\xa0h\xa0i", where the bare "h" is the 12-hour format
# character, so 13:40 shows as "13 01 40". The "h" must be escaped.
TIME_FORMAT = "H\xa0\\h\xa0i"  # 13 h 40
DATETIME_FORMAT = "j F Y, H\xa0\\h\xa0i"  # 31 janvier 2024, 13 h 40
SHORT_DATETIME_FORMAT = "Y-m-d H\xa0\\h\xa0i"
