/**
 * What a notification says: the kinds of message and their texts in English and Hindi, for push
 * and SMS. Pure functions, unit-tested without I/O; who hears what is notification.rules.ts.
 */

export type Language = "en" | "hi";

/** Kinds of notification (the proto enum's words). */
export const KINDS = [
  "booking_placed",
  "booking_confirmed",
  "driver_assigned",
  "new_assignment",
  "driver_at_pickup",
  "trip_started",
  "driver_at_dropoff",
  "delivered",
  "booking_cancelled",
  "trip_cancelled",
  "booking_reopened",
  "booking_expired",
  "driver_arriving",
  "driver_arrived",
  "driver_dark",
  "new_offer",
  "offer_withdrawn",
  "offer_accepted",
] as const;
export type Kind = (typeof KINDS)[number];

export interface Rendered {
  title: string;
  body: string;
}

/** The stops of a trip, as tracking's events name them. */
export type Stop = "pickup" | "drop";

type Template = (p: Record<string, string>) => Rendered;

/** A short reference a person can read out on the phone: the booking id's last 6 characters. */
export function bookingRef(bookingId: string): string {
  return bookingId.replace(/-/g, "").slice(-6).toUpperCase();
}

/** Paise as rupees the way Indian apps write them: ₹1,250 or ₹1,250.50. */
export function rupees(paise: number): string {
  const whole = Math.floor(paise / 100);
  const fraction = paise % 100;
  const grouped = whole.toLocaleString("en-IN");
  return `₹${grouped}${fraction ? `.${String(fraction).padStart(2, "0")}` : ""}`;
}

const route = (p: Record<string, string>) => (p.pickup_city && p.drop_city ? `${p.pickup_city} → ${p.drop_city}` : "");
const withRoute = (text: string, p: Record<string, string>) => (route(p) ? `${text} (${route(p)})` : text);
/** The number of trucks when more than one (one truck needs no words). */
const trucks = (p: Record<string, string>) => (p.vehicle_count && p.vehicle_count !== "1" ? p.vehicle_count : "");
const stopEn = (p: Record<string, string>) => (p.stop === "drop" ? "the drop location" : "the pickup location");
const stopHi = (p: Record<string, string>) => (p.stop === "drop" ? "डिलीवरी स्थान" : "पिकअप स्थान");

const TEMPLATES: Record<Language, Record<Kind, Template>> = {
  en: {
    booking_placed: (p) => ({
      title: "Booking placed",
      body: withRoute(`Booking ${p.ref} is placed. We are finding a truck for you.`, p),
    }),
    booking_confirmed: (p) => ({
      title: "Booking confirmed",
      body: `A transporter has confirmed booking ${p.ref}. A driver will be assigned shortly.`,
    }),
    driver_assigned: (p) => ({
      title: p.reassigned ? "New driver assigned" : "Driver assigned",
      body: p.reassigned
        ? `A new driver and truck are assigned to booking ${p.ref}. Your pickup and delivery codes stay the same. Track them live in the Weelo app.`
        : `A driver and truck are assigned to booking ${p.ref}. Track them live in the Weelo app.`,
    }),
    new_assignment: (p) => ({
      title: "New trip assigned",
      body: withRoute(`You have been assigned booking ${p.ref}. Open the Weelo driver app to start.`, p),
    }),
    driver_at_pickup: (p) => ({
      title: "Driver at pickup",
      body: `The driver of booking ${p.ref} is at the pickup. Share the pickup code from the app to load the goods.`,
    }),
    trip_started: (p) => ({
      title: "Goods on the way",
      body: `Your goods for booking ${p.ref} are loaded and on the way.`,
    }),
    driver_at_dropoff: (p) => ({
      title: "Truck at drop",
      body: `The truck of booking ${p.ref} is at the drop. Share the delivery code from the app with the driver only after checking the goods.`,
    }),
    delivered: (p) => ({ title: "Delivered", body: `Booking ${p.ref} is delivered. Thank you for choosing Weelo.` }),
    booking_cancelled: (p) => ({
      title: "Booking cancelled",
      body: p.by_ops
        ? `Weelo support cancelled booking ${p.ref}${p.reason ? `: ${p.reason}` : "."} You will not be charged.`
        : `Booking ${p.ref} is cancelled.${p.fee ? ` A cancellation fee of ${p.fee} applies.` : ""}`,
    }),
    trip_cancelled: (p) => ({
      title: "Trip cancelled",
      body: p.reassigned
        ? `Booking ${p.ref} was given to another driver. Do not go to the pickup.`
        : `Booking ${p.ref} was cancelled. Do not go to the pickup.`,
    }),
    booking_reopened: (p) => ({
      title: "Finding another truck",
      body: `The transporter could not take booking ${p.ref}. We are finding you another truck.`,
    }),
    booking_expired: (p) => ({
      title: "No truck found",
      body: `Sorry, no transporter was found for booking ${p.ref}. Please try booking again.`,
    }),
    driver_arriving: (p) => ({
      title: "Truck arriving",
      body: `The truck of booking ${p.ref} is about to reach ${stopEn(p)}.`,
    }),
    driver_arrived: (p) => ({
      title: "Truck arrived",
      body: `The truck of booking ${p.ref} has reached ${stopEn(p)}.`,
    }),
    driver_dark: (p) => ({
      title: "Driver unreachable",
      body: `The driver on booking ${p.ref} has not sent a location for ${p.silent_minutes} min. Please call them.`,
    }),
    new_offer: (p) => ({
      title: "New booking near you",
      body: withRoute(
        `A new booking ${p.ref}${trucks(p) ? ` for ${trucks(p)} trucks` : ""}${p.fare ? ` worth ${p.fare}` : ""} is waiting. Open Weelo to accept it.`,
        p,
      ),
    }),
    offer_withdrawn: (p) => ({
      title: "Booking no longer available",
      body: `Booking ${p.ref} is no longer available.`,
    }),
    offer_accepted: (p) => ({
      title: "Booking accepted",
      body: `You accepted booking ${p.ref}. Assign a driver and truck now.`,
    }),
  },
  hi: {
    booking_placed: (p) => ({
      title: "बुकिंग हो गई",
      body: withRoute(`बुकिंग ${p.ref} हो गई है। हम आपके लिए ट्रक ढूँढ रहे हैं।`, p),
    }),
    booking_confirmed: (p) => ({
      title: "बुकिंग कन्फ़र्म",
      body: `एक ट्रांसपोर्टर ने बुकिंग ${p.ref} कन्फ़र्म कर दी है। जल्द ही ड्राइवर तय होगा।`,
    }),
    driver_assigned: (p) => ({
      title: p.reassigned ? "नया ड्राइवर तय" : "ड्राइवर तय",
      body: p.reassigned
        ? `बुकिंग ${p.ref} के लिए नया ड्राइवर और ट्रक तय हो गए हैं। आपके पिकअप और डिलीवरी कोड वही रहेंगे। Weelo ऐप में उन्हें लाइव देखें।`
        : `बुकिंग ${p.ref} के लिए ड्राइवर और ट्रक तय हो गए हैं। Weelo ऐप में उन्हें लाइव देखें।`,
    }),
    new_assignment: (p) => ({
      title: "नई ट्रिप",
      body: withRoute(`आपको बुकिंग ${p.ref} दी गई है। शुरू करने के लिए Weelo ड्राइवर ऐप खोलें।`, p),
    }),
    driver_at_pickup: (p) => ({
      title: "ड्राइवर पिकअप पर",
      body: `बुकिंग ${p.ref} का ड्राइवर पिकअप पर है। माल लोड करने के लिए ऐप से पिकअप कोड बताएँ।`,
    }),
    trip_started: (p) => ({ title: "माल रास्ते में", body: `बुकिंग ${p.ref} का आपका माल लोड हो गया है और रास्ते में है।` }),
    driver_at_dropoff: (p) => ({
      title: "ट्रक डिलीवरी पर",
      body: `बुकिंग ${p.ref} का ट्रक डिलीवरी स्थान पर है। माल जाँचने के बाद ही ड्राइवर को ऐप से डिलीवरी कोड बताएँ।`,
    }),
    delivered: (p) => ({ title: "डिलीवरी हो गई", body: `बुकिंग ${p.ref} की डिलीवरी हो गई। Weelo चुनने के लिए धन्यवाद।` }),
    booking_cancelled: (p) => ({
      title: "बुकिंग रद्द",
      body: p.by_ops
        ? `Weelo सहायता टीम ने बुकिंग ${p.ref} रद्द कर दी है${p.reason ? `: ${p.reason}` : "।"} आपसे कोई शुल्क नहीं लिया जाएगा।`
        : `बुकिंग ${p.ref} रद्द हो गई है।${p.fee ? ` ${p.fee} रद्द करने का शुल्क लगेगा।` : ""}`,
    }),
    trip_cancelled: (p) => ({
      title: "ट्रिप रद्द",
      body: p.reassigned
        ? `बुकिंग ${p.ref} दूसरे ड्राइवर को दे दी गई है। पिकअप पर न जाएँ।`
        : `बुकिंग ${p.ref} रद्द हो गई है। पिकअप पर न जाएँ।`,
    }),
    booking_reopened: (p) => ({
      title: "दूसरा ट्रक ढूँढ रहे हैं",
      body: `ट्रांसपोर्टर बुकिंग ${p.ref} नहीं ले सका। हम आपके लिए दूसरा ट्रक ढूँढ रहे हैं।`,
    }),
    booking_expired: (p) => ({
      title: "ट्रक नहीं मिला",
      body: `माफ़ करें, बुकिंग ${p.ref} के लिए कोई ट्रांसपोर्टर नहीं मिला। कृपया फिर से बुक करें।`,
    }),
    driver_arriving: (p) => ({ title: "ट्रक पहुँचने वाला है", body: `बुकिंग ${p.ref} का ट्रक ${stopHi(p)} पर पहुँचने वाला है।` }),
    driver_arrived: (p) => ({ title: "ट्रक पहुँच गया", body: `बुकिंग ${p.ref} का ट्रक ${stopHi(p)} पर पहुँच गया है।` }),
    driver_dark: (p) => ({
      title: "ड्राइवर से संपर्क नहीं",
      body: `बुकिंग ${p.ref} के ड्राइवर ने ${p.silent_minutes} मिनट से लोकेशन नहीं भेजी है। कृपया उन्हें कॉल करें।`,
    }),
    new_offer: (p) => ({
      title: "पास में नई बुकिंग",
      body: withRoute(
        `नई बुकिंग ${p.ref}${trucks(p) ? ` (${trucks(p)} ट्रक)` : ""}${p.fare ? ` (${p.fare})` : ""} आपका इंतज़ार कर रही है। स्वीकार करने के लिए Weelo खोलें।`,
        p,
      ),
    }),
    offer_withdrawn: (p) => ({ title: "बुकिंग अब उपलब्ध नहीं", body: `बुकिंग ${p.ref} अब उपलब्ध नहीं है।` }),
    offer_accepted: (p) => ({ title: "बुकिंग स्वीकार", body: `आपने बुकिंग ${p.ref} स्वीकार की। अब ड्राइवर और ट्रक तय करें।` }),
  },
};

/** The message's texts in the user's language (English for anything but Hindi). */
export function render(kind: Kind, language: string, params: Record<string, string>): Rendered {
  const table = language === "hi" ? TEMPLATES.hi : TEMPLATES.en;
  return table[kind]({ ...params, ref: params.ref ?? "" });
}

/** The one-line text of an SMS: title and body, as DLT templates want a single variable. */
export function smsText(rendered: Rendered): string {
  return `Weelo: ${rendered.title}. ${rendered.body}`;
}
