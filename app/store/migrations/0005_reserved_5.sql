-- Reserved for a change under way; replaced before it lands.
SELECT 1;
