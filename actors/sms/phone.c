#include "actors/sms/phone.h"

#include <string.h>

typedef struct calling_code {
    const char *code;
    const char *iso;
} calling_code;

/* ITU-T E.164 country calling codes (the main country of each). */
static const calling_code codes[] = {
    { "1", "US" }, { "20", "EG" }, { "211", "SS" }, { "212", "MA" }, { "213", "DZ" },
    { "216", "TN" }, { "218", "LY" }, { "220", "GM" }, { "221", "SN" }, { "222", "MR" },
    { "223", "ML" }, { "224", "GN" }, { "225", "CI" }, { "226", "BF" }, { "227", "NE" },
    { "228", "TG" }, { "229", "BJ" }, { "230", "MU" }, { "231", "LR" }, { "232", "SL" },
    { "233", "GH" }, { "234", "NG" }, { "235", "TD" }, { "236", "CF" }, { "237", "CM" },
    { "238", "CV" }, { "239", "ST" }, { "240", "GQ" }, { "241", "GA" }, { "242", "CG" },
    { "243", "CD" }, { "244", "AO" }, { "245", "GW" }, { "246", "IO" }, { "248", "SC" },
    { "249", "SD" }, { "250", "RW" }, { "251", "ET" }, { "252", "SO" }, { "253", "DJ" },
    { "254", "KE" }, { "255", "TZ" }, { "256", "UG" }, { "257", "BI" }, { "258", "MZ" },
    { "260", "ZM" }, { "261", "MG" }, { "262", "RE" }, { "263", "ZW" }, { "264", "NA" },
    { "265", "MW" }, { "266", "LS" }, { "267", "BW" }, { "268", "SZ" }, { "269", "KM" },
    { "27", "ZA" }, { "290", "SH" }, { "291", "ER" }, { "297", "AW" }, { "298", "FO" },
    { "299", "GL" }, { "30", "GR" }, { "31", "NL" }, { "32", "BE" }, { "33", "FR" },
    { "34", "ES" }, { "350", "GI" }, { "351", "PT" }, { "352", "LU" }, { "353", "IE" },
    { "354", "IS" }, { "355", "AL" }, { "356", "MT" }, { "357", "CY" }, { "358", "FI" },
    { "359", "BG" }, { "36", "HU" }, { "370", "LT" }, { "371", "LV" }, { "372", "EE" },
    { "373", "MD" }, { "374", "AM" }, { "375", "BY" }, { "376", "AD" }, { "377", "MC" },
    { "378", "SM" }, { "379", "VA" }, { "380", "UA" }, { "381", "RS" }, { "382", "ME" },
    { "383", "XK" }, { "385", "HR" }, { "386", "SI" }, { "387", "BA" }, { "389", "MK" },
    { "39", "IT" }, { "40", "RO" }, { "41", "CH" }, { "420", "CZ" }, { "421", "SK" },
    { "423", "LI" }, { "43", "AT" }, { "44", "GB" }, { "45", "DK" }, { "46", "SE" },
    { "47", "NO" }, { "48", "PL" }, { "49", "DE" }, { "500", "FK" }, { "501", "BZ" },
    { "502", "GT" }, { "503", "SV" }, { "504", "HN" }, { "505", "NI" }, { "506", "CR" },
    { "507", "PA" }, { "508", "PM" }, { "509", "HT" }, { "51", "PE" }, { "52", "MX" },
    { "53", "CU" }, { "54", "AR" }, { "55", "BR" }, { "56", "CL" }, { "57", "CO" },
    { "58", "VE" }, { "590", "GP" }, { "591", "BO" }, { "592", "GY" }, { "593", "EC" },
    { "594", "GF" }, { "595", "PY" }, { "596", "MQ" }, { "597", "SR" }, { "598", "UY" },
    { "599", "CW" }, { "60", "MY" }, { "61", "AU" }, { "62", "ID" }, { "63", "PH" },
    { "64", "NZ" }, { "65", "SG" }, { "66", "TH" }, { "670", "TL" }, { "672", "NF" },
    { "673", "BN" }, { "674", "NR" }, { "675", "PG" }, { "676", "TO" }, { "677", "SB" },
    { "678", "VU" }, { "679", "FJ" }, { "680", "PW" }, { "681", "WF" }, { "682", "CK" },
    { "683", "NU" }, { "685", "WS" }, { "686", "KI" }, { "687", "NC" }, { "688", "TV" },
    { "689", "PF" }, { "690", "TK" }, { "691", "FM" }, { "692", "MH" }, { "7", "RU" },
    { "76", "KZ" }, { "77", "KZ" }, { "81", "JP" }, { "82", "KR" }, { "84", "VN" },
    { "850", "KP" }, { "852", "HK" }, { "853", "MO" }, { "855", "KH" }, { "856", "LA" },
    { "86", "CN" }, { "880", "BD" }, { "886", "TW" }, { "90", "TR" }, { "91", "IN" },
    { "92", "PK" }, { "93", "AF" }, { "94", "LK" }, { "95", "MM" }, { "960", "MV" },
    { "961", "LB" }, { "962", "JO" }, { "963", "SY" }, { "964", "IQ" }, { "965", "KW" },
    { "966", "SA" }, { "967", "YE" }, { "968", "OM" }, { "970", "PS" }, { "971", "AE" },
    { "972", "IL" }, { "973", "BH" }, { "974", "QA" }, { "975", "BT" }, { "976", "MN" },
    { "977", "NP" }, { "98", "IR" }, { "992", "TJ" }, { "993", "TM" }, { "994", "AZ" },
    { "995", "GE" }, { "996", "KG" }, { "998", "UZ" },
};

/* North American Numbering Plan area codes outside the US. */
static const calling_code nanp[] = {
    { "204", "CA" }, { "226", "CA" }, { "236", "CA" }, { "249", "CA" }, { "250", "CA" },
    { "263", "CA" }, { "289", "CA" }, { "306", "CA" }, { "343", "CA" }, { "354", "CA" },
    { "365", "CA" }, { "367", "CA" }, { "368", "CA" }, { "382", "CA" }, { "387", "CA" },
    { "403", "CA" }, { "416", "CA" }, { "418", "CA" }, { "428", "CA" }, { "431", "CA" },
    { "437", "CA" }, { "438", "CA" }, { "450", "CA" }, { "460", "CA" }, { "468", "CA" },
    { "474", "CA" }, { "506", "CA" }, { "514", "CA" }, { "519", "CA" }, { "548", "CA" },
    { "579", "CA" }, { "581", "CA" }, { "584", "CA" }, { "587", "CA" }, { "604", "CA" },
    { "613", "CA" }, { "639", "CA" }, { "647", "CA" }, { "672", "CA" }, { "683", "CA" },
    { "705", "CA" }, { "709", "CA" }, { "742", "CA" }, { "753", "CA" }, { "778", "CA" },
    { "780", "CA" }, { "782", "CA" }, { "807", "CA" }, { "819", "CA" }, { "825", "CA" },
    { "867", "CA" }, { "873", "CA" }, { "879", "CA" }, { "902", "CA" }, { "905", "CA" },
    { "242", "BS" }, { "246", "BB" }, { "264", "AI" }, { "268", "AG" }, { "284", "VG" },
    { "340", "VI" }, { "345", "KY" }, { "441", "BM" }, { "473", "GD" }, { "649", "TC" },
    { "658", "JM" }, { "876", "JM" }, { "664", "MS" }, { "670", "MP" }, { "671", "GU" },
    { "684", "AS" }, { "721", "SX" }, { "758", "LC" }, { "767", "DM" }, { "784", "VC" },
    { "787", "PR" }, { "939", "PR" }, { "809", "DO" }, { "829", "DO" }, { "849", "DO" },
    { "868", "TT" }, { "869", "KN" },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int sgw_phone_is_e164(const char *s)
{
    if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
        return 0;
    size_t n = 0;
    for (const char *p = s + 1; *p; p++, n++)
        if (*p < '0' || *p > '9')
            return 0;
    return n >= 8 && n <= 15;
}

int sgw_sender_id_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    int letter = 0;
    for (; s[n]; n++) {
        char c = s[n];
        int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (!alpha && !(c >= '0' && c <= '9') && c != ' ')
            return 0;
        letter |= alpha;
    }
    return n >= 1 && n <= 11 && letter;
}

const char *sgw_phone_country(const char *e164)
{
    if (!sgw_phone_is_e164(e164))
        return NULL;
    const char *digits = e164 + 1;
    if (digits[0] == '1') {
        for (size_t i = 0; i < COUNT(nanp); i++)
            if (strncmp(digits + 1, nanp[i].code, 3) == 0)
                return nanp[i].iso;
        return "US";
    }
    const calling_code *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < COUNT(codes); i++) {
        size_t n = strlen(codes[i].code);
        if (n > best_len && strncmp(digits, codes[i].code, n) == 0) {
            best = &codes[i];
            best_len = n;
        }
    }
    return best ? best->iso : NULL;
}

const char *sgw_country_calling_code(const char *iso2)
{
    if (!iso2)
        return NULL;
    for (size_t i = 0; i < COUNT(codes); i++)
        if (strcmp(codes[i].iso, iso2) == 0) /* +76 and +77 (KZ) are ranges of +7 */
            return codes[i].code[0] == '7' ? "7" : codes[i].code;
    for (size_t i = 0; i < COUNT(nanp); i++)
        if (strcmp(nanp[i].iso, iso2) == 0)
            return "1";
    return NULL;
}

int sgw_country_valid(const char *s)
{
    return s && strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
           sgw_country_calling_code(s) != NULL;
}
