/*
 * actors/sms/phone.h — phone numbers, sender IDs and countries.
 *
 * The country of a number comes from its ITU-T E.164 country calling code
 * (longest prefix). Shared codes resolve to their main country, with the
 * known exceptions: in the North American Numbering Plan (+1) Canadian and
 * Caribbean area codes map to their countries, the rest to "US"; +7 6 and
 * +7 7 are Kazakhstan, the rest of +7 Russia.
 *
 * Pure functions over const tables; thread-safe.
 */
#ifndef SGW_SMS_PHONE_H
#define SGW_SMS_PHONE_H

/* "+" then 8 to 15 digits, the first not 0, and nothing else. */
int sgw_phone_is_e164(const char *s);

/* An alphanumeric sender ID: 1-11 of A-Z a-z 0-9 and space, with at least
 * one letter. */
int sgw_sender_id_valid(const char *s);

/* ISO 3166-1 alpha-2 country of an E.164 number, or NULL if unknown. */
const char *sgw_phone_country(const char *e164);

/* Is s two uppercase letters naming a country this table knows? */
int sgw_country_valid(const char *s);

/* The calling code (digits, no "+") of a country, or NULL. */
const char *sgw_country_calling_code(const char *iso2);

#endif
