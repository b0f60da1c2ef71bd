// How file names and paths are shown across views (numbers, dates and times: ./i18n/format).

export const fileName = (path: string): string => path.split(/[\\/]/).pop() ?? path;
/** A path cut after each separator (/ or \), so it can wrap there: "/a/b.png" -> ["/", "a/", "b.png"]. */
export const pathParts = (path: string): string[] => path.match(/[^\\/]*[\\/]+|[^\\/]+$/g) ?? [path];
