/** The server's version, as `/api/settings` and the OpenAPI document tell it. */
export const SERVER_VERSION = "0.1.0";
