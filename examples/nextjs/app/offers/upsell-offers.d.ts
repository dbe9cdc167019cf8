// <upsell-offers> in JSX: the attributes the element reads.
import "react";

declare module "react" {
  namespace JSX {
    interface IntrinsicElements {
      "upsell-offers": React.DetailedHTMLProps<React.HTMLAttributes<HTMLElement>, HTMLElement> & {
        token: string;
        "base-url"?: string;
        locale?: "en" | "it" | "es";
      };
    }
  }
}
