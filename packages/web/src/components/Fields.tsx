/**
 * A form's labelled fields: the label above its control (`.field`), the control's props as they are, and
 * `onValue` with the new text instead of an `onChange` event, since every form here only wants the value.
 */
import type { InputHTMLAttributes, ReactNode, SelectHTMLAttributes, TextareaHTMLAttributes } from "react";

interface FieldProps {
  label: ReactNode;
  /** More classes of the `.field` label: `grow`, `narrow`. */
  className?: string;
  onValue(value: string): void;
}

/** A control under its label; `after` follows the control inside the label (a hint, a datalist, an error). */
function Field({
  label,
  className,
  after,
  children,
}: Omit<FieldProps, "onValue"> & { after?: ReactNode; children: ReactNode }) {
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is `children` (an input, select or textarea)
    <label className={className ? `field ${className}` : "field"}>
      <span>{label}</span>
      {children}
      {after}
    </label>
  );
}

/** An `<input>` that answers its new text. */
export function TextInput({
  onValue,
  ...input
}: { onValue(value: string): void } & Omit<InputHTMLAttributes<HTMLInputElement>, "onChange">) {
  return <input {...input} onChange={(e) => onValue(e.target.value)} />;
}

/** A labelled `<input>`. */
export function InputField({
  label,
  className,
  onValue,
  after,
  ...input
}: FieldProps & { after?: ReactNode } & Omit<
    InputHTMLAttributes<HTMLInputElement>,
    "onChange" | "className"
  >) {
  return (
    <Field label={label} className={className} after={after}>
      <TextInput {...input} onValue={onValue} />
    </Field>
  );
}

/** A labelled `<textarea>`; `textClass` is the textarea's own class (`mono`). */
export function TextAreaField({
  label,
  className,
  onValue,
  textClass,
  ...area
}: FieldProps & { textClass?: string } & Omit<
    TextareaHTMLAttributes<HTMLTextAreaElement>,
    "onChange" | "className"
  >) {
  return (
    <Field label={label} className={className}>
      <textarea {...area} className={textClass} onChange={(e) => onValue(e.target.value)} />
    </Field>
  );
}

/** A labelled `<select>` of `children` options. */
export function SelectField({
  label,
  className,
  onValue,
  children,
  ...select
}: FieldProps & Omit<SelectHTMLAttributes<HTMLSelectElement>, "onChange" | "className">) {
  return (
    <Field label={label} className={className}>
      <select {...select} onChange={(e) => onValue(e.target.value)}>
        {children}
      </select>
    </Field>
  );
}

/** The options of a yes/no filter that may also be left open: any, yes (`true`), no (`false`). */
export const ANY_YES_NO = (
  <>
    <option value="">any</option>
    <option value="true">yes</option>
    <option value="false">no</option>
  </>
);

/** The keys of `D` whose values are text (or absent). */
type TextKey<D> = { [K in keyof D]-?: NonNullable<D[K]> extends string ? K : never }[keyof D] & string;

/**
 * Binds fields to a form's draft: `bind(key)` gives a field its `name` (the key, unless `name` is given), its
 * value (`""` while absent) and `onValue`, which calls `set(key, value)`.
 * @example const bind = bindTo(draft, set); <InputField label="Model" {...bind("model")} />
 */
export function bindTo<D>(draft: D, set: (k: TextKey<D>, v: string) => void) {
  return (k: TextKey<D>, name: string = k) => ({
    name,
    value: (draft[k] as string | undefined) ?? "",
    onValue: (v: string) => set(k, v),
  });
}
